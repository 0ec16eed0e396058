// The runner end to end on the wire systems: the shipped config through the CLI writes every
// stage and size of postgres and cockroach (on its TLS stand-in) to the bundle. (A server killed
// mid-stage and the run resumed: test/contract/systems.contract.test.ts, for every server system.)
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readMeta } from "../../lib/results/bundle.js";
import { ROOT, loadServicesEnv } from "../helpers/services-env.js";
import { TempDirs, bundleText, rowsOf } from "../helpers/bundles.js";

const run = promisify(execFile);
const temps = new TempDirs("dedup-lab-pgrun-");
const tempDir = () => temps.make();

beforeAll(() => {
  loadServicesEnv();
});
afterAll(() => {
  temps.removeAll();
});

describe("dedup-lab run --systems postgres,cockroach --config examples/local-services.yaml", () => {
  it("writes all stages and sizes of both systems to the bundle", async () => {
    const out = join(tempDir(), "bundle");
    const { stdout } = await run(process.execPath, [
      join(ROOT, "bin/dedup-lab.js"), "run", "--systems", "postgres,cockroach", "--config", join(ROOT, "examples/local-services.yaml"),
      "--payloads", "random_binary", "--units", "12", "--out", out, "--quiet",
    ], { cwd: ROOT, env: process.env, timeout: 300_000 });
    expect(stdout).toMatch(/6 cells done, 0 failed/);
    const meta = await readMeta(out);
    expect(meta).toMatchObject({ status: "complete", cells_done: 6, cells_failed: 0 });

    const rows = await rowsOf(out);
    const cells = [...new Set(rows.map((r) => r.cell_id))].sort();
    expect(cells).toEqual([
      "cockroach.default.random_binary.U0.file.within.r1", "cockroach.default.random_binary.U90.file.within.r1",
      "postgres.default.random_binary.U0.file.within.r1", "postgres.default.random_binary.U90.file.within.r1",
      "postgres.hash_index.random_binary.U0.file.within.r1", "postgres.hash_index.random_binary.U90.file.within.r1",
    ]);
    for (const cell of cells) {
      for (const stage of ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"]) {
        expect(rows.some((r) => r.cell_id === cell && r.stage === stage && r.metric === "stage_end"), `${cell} ${stage}`).toBe(true);
        // The stand-in has no CockroachDB GC/compaction: its maintenance is a not-implemented status, never a 0 s stage with sizes.
        const standInMaintenance = cell.startsWith("cockroach.") && stage === "maintenance";
        expect(rows.filter((r) => r.cell_id === cell && r.stage === stage && r.metric === "size_bytes" && r.layer === "L2").length).toBe(standInMaintenance ? 0 : 3);
        if (standInMaintenance) {
          const status = rows.filter((r) => r.cell_id === cell && r.stage === stage && r.metric === "stage_status");
          expect(status).toHaveLength(1);
          expect(status[0]!.valid).toBe(false);
          expect(status[0]!.reason).toMatch(/^not implemented by cockroach: maintenance gc_wait not run \(the PostgreSQL stand-in has no MVCC GC/);
          expect(rows.some((r) => r.cell_id === cell && r.stage === stage && r.metric === "duration_s")).toBe(false);
        }
      }
    }
    const pgBulk = rows.find((r) => r.system === "postgres" && r.stage === "bulk_insert" && r.metric === "pg_total_relation_size" && r.phase === "after")!;
    expect(pgBulk.value!).toBeGreaterThan(12 * 16384);
    const crdbSizes = rows.filter((r) => r.system === "cockroach" && ["live_bytes", "approximate_disk_bytes"].includes(r.metric));
    expect(crdbSizes.length).toBeGreaterThan(0);
    for (const r of crdbSizes) {
      expect(r.value).toBeNull();
      expect(r.reason).toMatch(/^not CockroachDB \(server is PostgreSQL 1\d\.\d+\)$/);
    }
    const text = bundleText(out);
    for (const v of ["DEDUP_PG_PASSWORD", "DEDUP_PGTLS_PASSWORD", "DEDUP_PG_ADMIN_PASSWORD"]) expect(text).not.toContain(process.env[v]);
  });
});
