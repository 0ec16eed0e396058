// CLI conventions users expect, checked on the real binary (node bin/dedup-lab.js, built dist/):
// --version, exit status 128 + signal number with the messages on stderr, and an engines range
// that matches what the installed dependencies declare.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, cli } from "../helpers/cli.js";
import { ROOT } from "../helpers/services-env.js";
// @ts-expect-error: a plain .mjs script without type declarations
import { analyse, enginesOf, enginesRange, SUPPORTED_MAJORS } from "../../scripts/node-engines.mjs";

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string; engines: { node: string } };
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "dedup-lab-conv-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("--version", () => {
  it.each([["--version"], ["-V"]])("%s prints the package version on stdout and exits 0", (flag) => {
    const r = cli([flag]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${pkg.version}\n`);
    expect(r.stderr).toBe("");
  });
});

interface Stopped {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  out: string;
}

/** Starts the default embedded run, sends `sig` once the first cell has finished, and waits for the exit. */
async function runAndSignal(sig: NodeJS.Signals): Promise<Stopped> {
  const work = tmp();
  const out = join(work, "bundle");
  // The default embedded slice (45 cells): long enough that the signal lands mid-run.
  const child = spawn(process.execPath, [BIN, "run", "--units", "40", "--out", out], {
    cwd: ROOT, env: { ...process.env, TMPDIR: work }, stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on("exit", (c, s) => resolve([c, s])));
  await new Promise<void>((resolve, reject) => {
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (/^\[1\/45\] /m.test(stderr)) resolve(); // non-TTY progress: one line per finished cell
    });
    void exited.then(() => reject(new Error(`exited before the first cell finished:\n${stderr}`)));
  });
  child.kill(sig);
  const [code, signal] = await exited;
  return { code, signal, stdout, stderr, out };
}

describe("signals stop a run cleanly; the exit status names the signal (128 + n)", () => {
  it.each([
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const)("%s → exit %i, messages on stderr only, bundle saved as interrupted with a resume command", async (sig, status) => {
    const r = await runAndSignal(sig);
    expect(r.signal, r.stderr).toBeNull(); // handled, not killed
    expect(r.code, r.stderr).toBe(status);
    expect(r.stderr).toContain(`${sig}: finishing the current operation, cleaning up and saving results`);
    expect(r.stderr).toContain(`interrupted by ${sig} — continue with: npx dedup-lab run --resume ${r.out}\n`);
    // stdout keeps the results only (the summary may list the cut-off cell's row; that is bundle content).
    expect(r.stdout).not.toMatch(/finishing the current operation|continue with|--resume/);
    expect(r.stdout).toMatch(/bundle: .*\(\d+ cells done/);
    const meta = JSON.parse(readFileSync(join(r.out, "bundle.json"), "utf8")) as { status: string };
    expect(meta.status).toBe("interrupted");
    const done = readdirSync(join(r.out, "cells")).length;
    expect(done).toBeGreaterThanOrEqual(1);
    expect(done).toBeLessThan(45);
    expect(existsSync(join(r.out, "journal.jsonl"))).toBe(true);
  });
});

describe("package.json engines", () => {
  it("is the range the installed dependencies allow for the supported Node majors (scripts/node-engines.mjs)", () => {
    const pkgs = enginesOf(ROOT) as { name: string }[];
    expect(pkgs.length).toBeGreaterThan(50);
    const rows = analyse(pkgs) as { major: number; lowest: string | null }[];
    expect(pkg.engines.node).toBe(enginesRange(rows));
    // The bound named in issue 15: @platformatic/kafka needs ≥ 20.19.4 on Node 20.
    expect(rows.find((r) => r.major === 20)?.lowest).toBe("20.19.4");
    expect(SUPPORTED_MAJORS).toEqual([20, 22, 24]);
  });
});
