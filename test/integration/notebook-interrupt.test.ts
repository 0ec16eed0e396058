// A kernel interrupt during `await lab.runMatrix(...)` in the real dedup-lab (tslab) kernel, driven by
// jupyter_client: the run stops through its abort signal, the cell ends only after the current
// cell's cleanup with the bundle saved as interrupted and a resume hint; nothing of the bundle is
// written after the cell ended, no lab object is left in the work area, and the kernel lives on
// with tslab's own interrupt handler back in place.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { jupyterEnv } from "../../lib/notebook/paths.js";
import { ROOT } from "../helpers/services-env.js";

interface Report {
  done_at_interrupt: number;
  reply_status: string;
  seconds_to_reply: number;
  text: string;
  errors: string[];
  cells_at_reply: Record<string, number>;
  cells_later: Record<string, number>;
  written_after_reply: string[];
  probe: string;
  probe_errors: string[];
  work_left: string[];
}

describe("kernel interrupt = stop", () => {
  it("interrupting runMatrix saves the bundle as interrupted before the cell ends", () => {
    const out = join(mkdtempSync(join(tmpdir(), "dedup-lab-int-")), "bundle");
    const work = mkdtempSync(join(tmpdir(), "dedup-lab-int-work-"));
    const stdout = execFileSync("/usr/bin/python3", [join(ROOT, "test", "helpers", "kernel-interrupt.py"), ROOT, out, work], {
      env: jupyterEnv(ROOT), encoding: "utf8", timeout: 600_000,
    });
    const r = JSON.parse(stdout.trim().split("\n").pop()!) as Report;
    console.log(`interrupt after ${r.done_at_interrupt} cells; the cell ended ${r.seconds_to_reply} s later; ${Object.keys(r.cells_at_reply).length} cell files`);
    expect(r.reply_status).toBe("error");
    // tslab prints the exception on the cell's stderr stream (its error message is empty)
    const said = `${r.text}\n${r.errors.join("\n")}`;
    expect(said, said).toMatch(/RunInterrupted: interrupted: \d+ cells done/);
    expect(said).toContain(`npx dedup-lab run --resume ${out}`);
    expect(r.text).toMatch(/interrupt: finishing the current operation/);
    expect(r.text).not.toMatch(/run returned/);
    expect(said).not.toMatch(/Interrupted asynchronously/); // tslab's own handler did not end the cell early
    const meta = JSON.parse(readFileSync(join(out, "bundle.json"), "utf8")) as { status: string };
    expect(meta.status).toBe("interrupted");
    const n = Object.keys(r.cells_at_reply).length;
    expect(n).toBeGreaterThanOrEqual(r.done_at_interrupt);
    expect(n).toBeLessThan(18);
    expect(r.cells_later).toEqual(r.cells_at_reply);
    expect(r.written_after_reply).toEqual([]);
    expect(r.work_left).toEqual([]);
    expect(r.probe).toMatch(/alive 2 1/); // tslab's handler back, ours gone
    expect(r.probe_errors).toEqual([]);
  }, 600_000);
});
