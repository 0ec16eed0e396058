// The runner end to end on MariaDB and ClickHouse: the shipped config through the CLI writes
// every stage and size of both systems to the bundle; and a MariaDB server killed (SIGKILL)
// mid-stage fails that cell with its reason, the run goes on, and `dedup-lab run --resume DIR`
// after the restart completes the matrix without losing a finished cell.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readMeta } from "../../lib/results/bundle.js";
import { resolveConfig } from "../../lib/runner/config.js";
import type { RunEvents } from "../../lib/runner/events.js";
import { runMatrix } from "../../lib/runner/run.js";
import { ROOT, loadServicesEnv } from "../helpers/services-env.js";
import { TempDirs, bundleText, rowsOf, services } from "../helpers/bundles.js";

const run = promisify(execFile);
const temps = new TempDirs("dedup-lab-myrun-");
const tempDir = () => temps.make();

beforeAll(() => {
  loadServicesEnv();
});
afterAll(() => {
  services("up", "mariadb"); // whatever happened above, leave the server running
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

describe("mariadb killed mid-stage, then --resume", () => {
  it("fails that cell with the reason, goes on, and `run --resume` completes the matrix keeping finished cells", async () => {
    const cfg = resolveConfig({
      matrix: { systems: ["mariadb"], payloads: ["random_binary"], grades: ["U0", "U50", "U90"] },
      dataset: { units: 400, unitSize: "4KiB", containers: 1, seed: "fault" },
      systems: {
        mariadb: {
          maintenance: "optimize",
          options: { host: process.env.DEDUP_MARIADB_HOST, port: Number(process.env.DEDUP_MARIADB_PORT), user: process.env.DEDUP_MARIADB_USER, passwordEnv: "DEDUP_MARIADB_PASSWORD" },
        },
      },
    });
    const dir = join(tempDir(), "bundle");
    let cellIndex = -1;
    let killed = false;
    const fault: RunEvents = {
      cellStart: (_cell, index) => {
        cellIndex = index;
      },
      // In the second cell, SIGKILL the server shortly after the per-unit inserts begin.
      stageStart: (_cell, stage) => {
        if (cellIndex === 1 && stage === "perfile_insert" && !killed) {
          killed = true;
          const pid = Number(readFileSync(process.env.DEDUP_MARIADB_PID_FILE!, "utf8").trim());
          setTimeout(() => process.kill(pid, "SIGKILL"), 50);
        }
      },
      cellEnd: (_cell, record) => {
        if (record.status === "failed") services("up", "mariadb");
      },
    };
    const first = await runMatrix(cfg, { dir, events: [fault] });
    expect(first).toMatchObject({ done: 2, failed: 1 });
    const failedCell = "mariadb.default.random_binary.U50.file.within.r1";
    const failed = JSON.parse(readFileSync(join(dir, "cells", `${failedCell}.json`), "utf8")) as { status: string; error: string };
    expect(failed.status).toBe("failed");
    expect(failed.error).toMatch(
      /^(perfile_insert|perfile_delete|maintenance): mariadb at 127\.0\.0\.1:53306: .* \(gave up after 5 reconnect attempts\): connection refused .* — is the server running on this host and port\?$/,
    );
    expect((await readMeta(dir)).status).toBe("partial");
    const doneBefore = Object.fromEntries(
      ["U0", "U90"].map((g) => {
        const id = `mariadb.default.random_binary.${g}.file.within.r1`;
        return [id, readFileSync(join(dir, "cells", `${id}.json`), "utf8")];
      }),
    );

    const { stdout } = await run(process.execPath, [join(ROOT, "bin/dedup-lab.js"), "run", "--resume", dir, "--quiet"], {
      cwd: ROOT,
      env: process.env,
      timeout: 300_000,
    });
    expect(stdout).toMatch(/1 cells? done, 0 failed/);
    expect(await readMeta(dir)).toMatchObject({ status: "complete", cells_done: 3, cells_failed: 0 });
    for (const [id, text] of Object.entries(doneBefore)) expect(readFileSync(join(dir, "cells", `${id}.json`), "utf8")).toBe(text);
    const rows = await rowsOf(dir);
    expect(rows.filter((r) => r.cell_id === failedCell && r.metric === "stage_end")).toHaveLength(4);
    expect(rows.filter((r) => r.metric === "error")).toHaveLength(0);
  });
});
