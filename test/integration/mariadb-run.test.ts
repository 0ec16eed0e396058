// The runner end to end on MariaDB and ClickHouse: the shipped config through the CLI writes
// every stage and size of both systems to the bundle. (A server killed mid-stage and the run
// resumed: test/contract/systems.contract.test.ts, for every server system.)
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readMeta } from "../../lib/results/bundle.js";
import { ROOT, loadServicesEnv } from "../helpers/services-env.js";
import { TempDirs, bundleText, rowsOf } from "../helpers/bundles.js";

const run = promisify(execFile);
const temps = new TempDirs("dedup-lab-myrun-");
const tempDir = () => temps.make();

beforeAll(() => {
  loadServicesEnv();
});
afterAll(() => {
  temps.removeAll();
});

describe("dedup-lab run --systems mariadb,clickhouse --config examples/local-services.yaml", () => {
  it("writes all stages and sizes of both systems to the bundle", async () => {
    const out = join(tempDir(), "bundle");
    const { stdout } = await run(process.execPath, [
      join(ROOT, "bin/dedup-lab.js"), "run", "--systems", "mariadb,clickhouse", "--config", join(ROOT, "examples/local-services.yaml"),
      "--payloads", "random_binary", "--units", "12", "--out", out, "--quiet",
    ], { cwd: ROOT, env: process.env, timeout: 600_000 });
    expect(stdout).toMatch(/8 cells done, 0 failed/);
    expect(await readMeta(out)).toMatchObject({ status: "complete", cells_done: 8, cells_failed: 0 });

    const rows = await rowsOf(out);
    const cells = [...new Set(rows.map((r) => r.cell_id))].sort();
    expect(cells).toEqual(
      ["clickhouse.mergetree_lz4", "clickhouse.replacing_lz4", "mariadb.default", "mariadb.page_compressed"].flatMap((sv) =>
        ["U0", "U90"].map((g) => `${sv}.random_binary.${g}.file.within.r1`),
      ),
    );
    for (const cell of cells) {
      for (const stage of ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"]) {
        expect(rows.some((r) => r.cell_id === cell && r.stage === stage && r.metric === "stage_end"), `${cell} ${stage}`).toBe(true);
        for (const layer of ["L1", "L2"]) {
          const primary = rows.filter((r) => r.cell_id === cell && r.stage === stage && r.metric === "size_bytes" && r.layer === layer && r.phase === "after");
          expect(primary, `${cell} ${stage} ${layer}`).toHaveLength(1);
          expect(primary[0]!.value, `${cell} ${stage} ${layer}`).not.toBeNull();
        }
      }
    }
    const after = (system: string, metric: string, grade: string) =>
      rows.find((r) => r.cell_id.startsWith(`${system}.`) && r.cell_id.includes(`.${grade}.`) && r.stage === "bulk_insert" && r.metric === metric && r.phase === "after")!;
    expect(after("mariadb", "allocated_size", "U0").value!).toBeGreaterThan(12 * 16384);
    expect(after("clickhouse", "data_uncompressed_bytes", "U0").value!).toBeGreaterThan(12 * 16384);
    // LZ4 blocks hold the whole U90 insert: the ten copies of the one unique unit compress away
    expect(after("clickhouse", "bytes_on_disk", "U90").value!).toBeLessThan(4 * 16384);
    const text = bundleText(out);
    for (const v of ["DEDUP_MARIADB_PASSWORD", "DEDUP_MARIADB_ADMIN_PASSWORD", "DEDUP_CLICKHOUSE_PASSWORD", "DEDUP_CLICKHOUSE_ADMIN_PASSWORD"]) {
      expect(text).not.toContain(process.env[v]);
    }
  });
});
