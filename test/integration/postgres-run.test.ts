// The runner end to end on the wire systems: the shipped config through the CLI writes every
// stage and size of postgres and cockroach (on its TLS stand-in) to the bundle; and a server
// killed mid-stage fails that cell with its reason, the run goes on, and --resume after the
// restart completes the matrix without losing a finished cell.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readMeta } from "../../lib/results/bundle.js";
import { loadAndResolve } from "../../lib/runner/config.js";
import type { RunEvents } from "../../lib/runner/events.js";
import { runMatrix } from "../../lib/runner/run.js";
import { ROOT, loadServicesEnv } from "../helpers/services-env.js";
import { TempDirs, bundleText, rowsOf, services } from "../helpers/bundles.js";

const run = promisify(execFile);
const temps = new TempDirs("dedup-lab-pgrun-");
const tempDir = () => temps.make();

beforeAll(() => {
  loadServicesEnv();
});
afterAll(() => {
  services("up", "postgres"); // whatever happened above, leave the server running
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
        expect(rows.filter((r) => r.cell_id === cell && r.stage === stage && r.metric === "size_bytes" && r.layer === "L2").length).toBe(3);
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

describe("postgres stopped mid-stage, then --resume", () => {
  it("fails that cell with the reason, goes on, and resume completes the matrix keeping finished cells", async () => {
    const cfg = await loadAndResolve({
      matrix: { systems: ["postgres"], payloads: ["random_binary"], grades: ["U0", "U50", "U90"] },
      dataset: { units: 400, unitSize: "4KiB", containers: 1, seed: "fault" },
      systems: {
        postgres: {
          maintenance: "vacuum",
          options: {
            host: process.env.DEDUP_PG_HOST, port: Number(process.env.DEDUP_PG_PORT), database: process.env.DEDUP_PG_DATABASE,
            user: process.env.DEDUP_PG_USER, passwordEnv: "DEDUP_PG_PASSWORD", reconnect: { attempts: 2, baseDelayMs: 100 },
          },
        },
      },
    });
    const dir = join(tempDir(), "bundle");
    let cellIndex = -1;
    let stopped: Promise<unknown> | undefined;
    const fault: RunEvents = {
      cellStart: (_cell, index) => {
        cellIndex = index;
      },
      // In the second cell, stop the server while per-unit inserts are running (not awaited here).
      stageStart: (_cell, stage) => {
        if (cellIndex === 1 && stage === "perfile_insert" && !stopped) {
          stopped = run("bash", [join(ROOT, "scripts/services.sh"), "down", "postgres"]);
        }
      },
      cellEnd: async (_cell, record) => {
        if (record.status === "failed") {
          await stopped;
          services("up", "postgres");
        }
      },
    };
    const first = await runMatrix(cfg, { dir, events: [fault] });
    expect(first).toMatchObject({ done: 2, failed: 1 });
    const failedCell = "postgres.default.random_binary.U50.file.within.r1";
    const cellFile = join(dir, "cells", `${failedCell}.json`);
    const failed = JSON.parse(readFileSync(cellFile, "utf8")) as { status: string; error: string };
    expect(failed.status).toBe("failed");
    expect(failed.error).toMatch(/^(perfile_insert|perfile_delete|maintenance): postgres at 127\.0\.0\.1:55432: .*(terminating connection|connection refused|Connection terminated|shutting down)/);
    expect(failed.error).not.toMatch(/\n/);
    expect((await readMeta(dir)).status).toBe("partial");

    const doneBefore = Object.fromEntries(
      ["U0", "U90"].map((g) => {
        const id = `postgres.default.random_binary.${g}.file.within.r1`;
        return [id, readFileSync(join(dir, "cells", `${id}.json`), "utf8")];
      }),
    );

    const second = await runMatrix(cfg, { dir, resume: true });
    expect(second).toMatchObject({ done: 1, failed: 0, skipped: 2 });
    expect(await readMeta(dir)).toMatchObject({ status: "complete", cells_done: 3, cells_failed: 0 });
    for (const [id, text] of Object.entries(doneBefore)) expect(readFileSync(join(dir, "cells", `${id}.json`), "utf8")).toBe(text);
    const rows = await rowsOf(dir);
    expect(rows.filter((r) => r.cell_id === failedCell && r.metric === "stage_end")).toHaveLength(4);
    expect(rows.filter((r) => r.metric === "error")).toHaveLength(0);
  });
});
