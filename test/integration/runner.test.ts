// The runner end to end on the embedded systems: every stage and metric lands in the
// bundle, a dry run touches nothing, Ctrl-C loses no finished cell and --resume completes.
import { createServer, Socket } from "node:net";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadBundles } from "../../lib/results/bundle.js";
import { tableRows } from "../../lib/results/arrow-io.js";
import type { ResultRow } from "../../lib/results/schema.js";
import { resolveConfig } from "../../lib/runner/config.js";
import { planRun } from "../../lib/runner/plan.js";
import { cli, cliAsync } from "../helpers/cli.js";

const tmp = () => mkdtempSync(join(tmpdir(), "dedup-lab-run-"));
const STAGES = ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"];

describe("a run on the embedded systems", () => {
  it("writes every cell, stage and metric to results.arrow", async () => {
    const out = join(tmp(), "bundle");
    const r = cli(["run", "--systems", "sqlite,duckdb,directory", "--payloads", "random_binary,structured_json", "--grades", "U0,U90", "--units", "20", "--repeats", "2", "--out", out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/EDR_cluster/);
    for (const f of ["bundle.json", "config.json", "env.json", "journal.jsonl", "run.log", "results.arrow", "histograms.arrow", "latencies.arrow", "timeseries.arrow", "snapshots.jsonl"]) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    expect(readdirSync(join(out, "manifests")).length).toBe(2 * 2 * 2); // payload × grade × repeat, shared by systems
    const b = await loadBundles([out]);
    const rows = tableRows<ResultRow>(b.results);
    const cells = new Set(rows.map((x) => x.cell_id));
    expect(cells.size).toBe(3 * 2 * 2 * 2);
    for (const cell of cells) {
      const rs = rows.filter((x) => x.cell_id === cell);
      expect(rs.some((x) => x.metric === "error"), cell).toBe(false);
      for (const stage of STAGES) {
        const s = rs.filter((x) => x.stage === stage);
        const has = (metric: string, layer?: string) => s.some((x) => x.metric === metric && (!layer || x.layer === layer) && x.value !== null);
        expect(has("duration_s"), `${cell} ${stage}`).toBe(true);
        for (const layer of ["L1", "L2", "L3"]) expect(has("size_bytes", layer), `${cell} ${stage} ${layer}`).toBe(true);
        if (stage.endsWith("insert")) {
          expect(has("edr_cluster") && has("edr_replica") && has("ideal_ratio") && has("throughput_MBps"), `${cell} ${stage}`).toBe(true);
        }
        if (stage.startsWith("perfile")) expect(has("latency_p50") && has("latency_p99") && has("latency_max"), `${cell} ${stage}`).toBe(true);
      }
    }
    // The ideal ratio is the manifest's: U90 → 10, U0 → 1; the realized fraction is exact.
    const ideal = rows.filter((x) => x.metric === "ideal_ratio" && x.stage === "bulk_insert");
    for (const x of ideal) expect(x.value).toBe(x.grade === "U90" ? 10 : 1);
    expect(new Set(rows.filter((x) => x.metric === "realized_fraction").map((x) => x.value))).toEqual(new Set([0, 0.9]));
    // No storage-level dedup on a plain file system: EDR stays near 1 at every grade.
    const edr = rows.filter((x) => x.metric === "edr_cluster" && x.system === "directory" && x.valid);
    for (const x of edr) expect(x.value!).toBeGreaterThan(0.5);
    for (const x of edr) expect(x.value!).toBeLessThan(1.5);
    // Latency samples and histograms are kept for merging.
    expect(b.latencies.numRows).toBe(3 * 2 * 2 * 2 * (20 + 20 + 1));
    expect(b.histograms.numRows).toBeGreaterThan(0);
    // A bundle from a different run loads alongside.
    const both = await loadBundles([out, out]);
    expect(both.results.numRows).toBe(2 * b.results.numRows);
  });

  it("a failing cell is recorded with its reason, the run goes on and exits 1", async () => {
    const d = tmp();
    const blocker = join(d, "not-a-dir");
    writeFileSync(blocker, "x");
    writeFileSync(join(d, "cfg.yaml"), `matrix: { systems: [directory, sqlite], payloads: [random_binary], grades: [U0] }\ndataset: { units: 5 }\nsystems:\n  directory:\n    options: { root: ${blocker} }\n`);
    const out = join(d, "bundle");
    const r = cli(["run", "--config", join(d, "cfg.yaml"), "--out", out, "--quiet"]);
    expect(r.status).toBe(1);
    const rows = tableRows<ResultRow>((await loadBundles([out])).results);
    const err = rows.find((x) => x.metric === "error");
    expect(err?.system).toBe("directory");
    expect(err?.reason).toMatch(/prepare: .*(ENOTDIR|EEXIST)/);
    expect(rows.some((x) => x.system === "sqlite" && x.metric === "edr_cluster" && x.valid)).toBe(true);
  });
});

describe("dry run", () => {
  it("opens no connection and writes nothing, even for server systems", async () => {
    let connections = 0;
    const server = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const d = tmp();
    const cfg = `matrix: { systems: [postgres, sqlite, directory], payloads: [random_binary], grades: [U0, U50] }
dataset: { units: 10 }
workDir: ${d}/work
systems:
  postgres:
    options: { host: 127.0.0.1, port: ${port}, user: dedup_lab, passwordEnv: DEDUP_TEST_PW }
`;
    writeFileSync(join(d, "cfg.yaml"), cfg);
    // in-process: no socket is even attempted
    const original = Socket.prototype.connect;
    let attempts = 0;
    Socket.prototype.connect = function (this: Socket, ...args: unknown[]) {
      attempts++;
      return (original as (...a: unknown[]) => Socket).apply(this, args);
    } as typeof Socket.prototype.connect;
    try {
      const { readConfigFile } = await import("../../lib/runner/config.js");
      const plan = planRun(resolveConfig(readConfigFile(join(d, "cfg.yaml"))));
      expect(plan.cells).toHaveLength(6);
      expect(plan.bytes).toBe(6 * 2 * 10 * 16384);
    } finally {
      Socket.prototype.connect = original;
    }
    expect(attempts).toBe(0);
    // and through the CLI, as a user runs it
    const r = cli(["run", "--dry-run", "--config", join(d, "cfg.yaml")], { cwd: d, env: { DEDUP_TEST_PW: "s3cret-pw" } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/dry run — nothing was opened or written/);
    expect(r.stdout).toMatch(/cells \(6\)/);
    expect(r.stdout).toMatch(/bytes to write: .*\(1966080 B\)/);
    expect(r.stdout).toMatch(/rough duration/);
    expect(r.stdout).not.toContain("s3cret-pw");
    const plan = cli(["plan", "--config", join(d, "cfg.yaml")], { cwd: d });
    expect(plan.status).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    server.close();
    expect(connections).toBe(0);
    expect(readdirSync(d)).toEqual(["cfg.yaml"]); // no results/, no work dirs
  });

  it("refuses a non-lab schema before connecting", () => {
    const d = tmp();
    writeFileSync(join(d, "cfg.yaml"), `matrix: { systems: [postgres] }\nsystems:\n  postgres:\n    options: { host: 127.0.0.1, port: 1, user: u, passwordEnv: X, schema: public }\n`);
    const r = cli(["run", "--dry-run", "--config", join(d, "cfg.yaml")]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/schema "public" is outside the lab namespace/);
  });
});

describe("interrupt and resume", () => {
  it("Ctrl-C keeps finished cells; --resume completes the matrix without redoing them", async () => {
    const out = join(tmp(), "bundle");
    const args = ["run", "--systems", "sqlite,directory", "--payloads", "random_binary,text_document,uuid_keys", "--grades", "U0,U50,U90", "--units", "60", "--out", out];
    const work = tmp();
    const child = cliAsync(args, { env: { TMPDIR: work } });
    let stderr = "";
    child.stderr!.on("data", (c) => (stderr += c));
    const journal = join(out, "journal.jsonl");
    const doneCount = () => (existsSync(journal) ? readFileSync(journal, "utf8").split("\n").filter((l) => l.includes('"done"')).length : 0);
    for (let i = 0; i < 600 && doneCount() < 3; i++) await new Promise((r) => setTimeout(r, 100));
    expect(doneCount()).toBeGreaterThanOrEqual(3);
    child.kill("SIGINT");
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    expect(code, stderr).toBe(130);
    const meta = JSON.parse(readFileSync(join(out, "bundle.json"), "utf8"));
    expect(meta.status).toBe("interrupted");
    const kept = readdirSync(join(out, "cells")).filter((n) => JSON.parse(readFileSync(join(out, "cells", n), "utf8")).status === "done");
    expect(kept.length).toBeGreaterThanOrEqual(3);
    expect(kept.length).toBeLessThan(18);
    const before = Object.fromEntries(kept.map((n) => [n, statSync(join(out, "cells", n)).mtimeMs]));
    // no lab leftovers of the interrupted cell in the work area
    expect(readdirSync(work)).toEqual([]);

    const r = cli(["run", "--resume", out, "--quiet"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`${kept.length} kept from before`));
    for (const [n, mtime] of Object.entries(before)) expect(statSync(join(out, "cells", n)).mtimeMs).toBe(mtime);
    const rows = tableRows<ResultRow>((await loadBundles([out])).results);
    expect(new Set(rows.map((x) => x.cell_id)).size).toBe(18);
    expect(rows.filter((x) => x.metric === "error")).toEqual([]);
    expect(JSON.parse(readFileSync(join(out, "bundle.json"), "utf8")).status).toBe("complete");
  });
});
