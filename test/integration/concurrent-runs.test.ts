// Two runs at once on the same local PostgreSQL (issue 17): the second is refused with one line
// naming the holder and writes nothing; `cleanup` is refused while the run goes; with
// --wait-lock the second queues, and its stages start only after the first run's last stage
// ended, with the same (independent) deltas for the same dataset.
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../lib/runner/config.js";
import { domainsOf, lockHolder } from "../../lib/runner/lock.js";
import { rowsOf, type Row } from "../helpers/bundles.js";
import { cli, cliAsync } from "../helpers/cli.js";
import { ROOT, loadServicesEnv } from "../helpers/services-env.js";

const CONFIG = join(ROOT, "examples/local-services.yaml");
// Two cells (variants default and hash_index), 8 units of 16 KiB, every stage: a few seconds per cell.
const SLICE = ["--config", CONFIG, "--systems", "postgres", "--payloads", "random_binary", "--grades", "U0", "--units", "8", "--quiet"];
let domain: string;
let work: string;

beforeAll(async () => {
  loadServicesEnv();
  [domain] = domainsOf(await loadConfig(CONFIG, { systems: ["postgres"] }));
  work = mkdtempSync(join(tmpdir(), "dedup-lab-concurrent-"));
});

function started(child: ReturnType<typeof cliAsync>): { exit: Promise<number | null>; stderr: () => string } {
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdout!.resume();
  return { exit: new Promise((r) => child.on("exit", (c) => r(c))), stderr: () => stderr };
}

async function until(what: string, ok: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("two runs at once on one server", () => {
  it("the second is refused (one line naming the holder) or, with --wait-lock, queues; cleanup is refused meanwhile", async () => {
    expect(domain).toMatch(/^server \S+:\d+$/);
    const a = { out: join(work, "a"), refused: join(work, "refused"), queued: join(work, "queued") };
    const childA = cliAsync(["run", ...SLICE, "--out", a.out]);
    const runA = started(childA);
    await until("run A to hold the lock", () => lockHolder(domain)?.pid === childA.pid);

    const childB = cliAsync(["run", ...SLICE, "--wait-lock", "120s", "--out", a.queued]);
    const runB = started(childB);
    await until("run B to say it waits", () => runB.stderr().includes("waiting for"));
    expect(runB.stderr()).toContain(`dedup-lab: waiting for ${domain}, in use by run`);

    // Ctrl-C while queued: the signal's exit status (130), not bad input, and nothing written.
    const interrupted = join(work, "interrupted");
    const childC = cliAsync(["run", ...SLICE, "--wait-lock", "120s", "--out", interrupted]);
    const runC = started(childC);
    await until("run C to say it waits", () => runC.stderr().includes("waiting for"));
    childC.kill("SIGINT");
    expect(await runC.exit, runC.stderr()).toBe(130);
    expect(runC.stderr()).toContain("interrupted while waiting for");
    expect(existsSync(interrupted)).toBe(false);

    // Refused while a live run holds the server (A, or B once A has ended).
    const holders = `(?:${childA.pid}|${childB.pid})`;
    const refused = cli(["run", ...SLICE, "--out", a.refused]);
    expect(refused.status, refused.stderr).toBe(2);
    const lines = refused.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^dedup-lab: ${domain} is in use by run \\S+ \\(host \\S+, pid ${holders}, started \\d{4}-.*Z\\) — .*--wait-lock`));
    expect(existsSync(a.refused)).toBe(false); // nothing written

    const cleanup = cli(["cleanup", "--config", CONFIG, "--systems", "postgres", "--force"]);
    expect(cleanup.status, cleanup.stderr).toBe(2);
    expect(cleanup.stderr.trim().split("\n")).toHaveLength(1);
    expect(cleanup.stderr).toMatch(new RegExp(`in use by run \\S+ \\(host \\S+, pid ${holders},`));

    expect(await runA.exit, runA.stderr()).toBe(0);
    expect(await runB.exit, runB.stderr()).toBe(0);

    const [rowsA, rowsB] = [await rowsOf(a.out), await rowsOf(a.queued)];
    for (const rows of [rowsA, rowsB]) expect(rows.filter((r) => r.metric === "error")).toEqual([]);
    // No overlap: B's first stage starts after A's last one ended.
    const times = (rows: Row[], m: string) => rows.filter((r) => r.metric === m).map((r) => r.value!);
    expect(Math.min(...times(rowsB, "stage_start"))).toBeGreaterThanOrEqual(Math.max(...times(rowsA, "stage_end")));
    // Independent deltas: the same dataset stores the same payload bytes (L1) in either run. (Their
    // validity can differ for a reason of the shared volume's trim, not of the other run.)
    const l1 = (rows: Row[]) =>
      rows.filter((r) => r.metric === "size_bytes" && r.phase === "delta" && r.layer === "L1" && r.stage === "bulk_insert").map((r) => [r.cell_id, r.value]);
    expect(l1(rowsA)).toHaveLength(2);
    expect(l1(rowsB)).toEqual(l1(rowsA));
    for (const [, v] of l1(rowsA)) expect(v).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(join(a.queued, "bundle.json"), "utf8")).status).toBe("complete");
    expect(lockHolder(domain)).toBeNull(); // both released
  });
});
