// ClickHouse connector against the real local server (scripts/services.sh up clickhouse).
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from "@clickhouse/client";
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Dataset } from "../../lib/generators/dataset.js";
import { LabNamespace } from "../../lib/systems/namespace.js";
import type { CellContext, LabSystem } from "../../lib/systems/contract.js";
import { clickhouseDefinition } from "../../lib/systems/clickhouse/clickhouse-options.js";
import { primary, runCellThrough, smallDataset } from "../helpers/contract-harness.js";
import { ROOT, loadServicesEnv } from "../helpers/services-env.js";

const env = loadServicesEnv();
const lab = new LabNamespace();
const endpoint = `127.0.0.1:${env.DEDUP_CLICKHOUSE_PORT}`;
const options = (over: Record<string, unknown> = {}) =>
  clickhouseDefinition.options.parse({
    host: env.DEDUP_CLICKHOUSE_HOST,
    port: env.DEDUP_CLICKHOUSE_PORT,
    user: env.DEDUP_CLICKHOUSE_USER,
    passwordEnv: "DEDUP_CLICKHOUSE_PASSWORD",
    ...over,
  });
const system = (over: Record<string, unknown> = {}) => clickhouseDefinition.create(options(over), lab);

let admin: ClickHouseClient;
beforeAll(() => {
  admin = createClient({
    url: `http://${endpoint}`,
    username: env.DEDUP_CLICKHOUSE_ADMIN_USER,
    password: env.DEDUP_CLICKHOUSE_ADMIN_PASSWORD,
    log: { level: ClickHouseLogLevel.OFF },
  });
});
afterAll(async () => {
  await admin?.close();
});

async function adminRows<T = Record<string, string>>(query: string): Promise<T[]> {
  return (await admin.query({ query, format: "JSONEachRow" })).json<T>();
}

function cellFor(ds: Dataset, variant: string): CellContext {
  return {
    lab,
    cellKey: "t" + Math.random().toString(36).slice(2, 8),
    variant,
    containers: ds.containers,
    workDir: mkdtempSync(join(tmpdir(), "dedup-lab-clickhouse-")),
    log: () => {},
  };
}

async function* batchesOf(ds: Dataset, maxBytes = 32 * 1024) {
  for (const b of ds.batches(maxBytes)) yield b;
}

async function withCell<T>(sys: LabSystem, cell: CellContext, fn: () => Promise<T>): Promise<T> {
  await sys.connect();
  try {
    await sys.prepare(cell);
    return await fn();
  } finally {
    await sys.cleanup();
    await sys.close();
  }
}

const tablesOf = (cell: CellContext) => Array.from({ length: cell.containers }, (_, c) => `units_${cell.cellKey}_c${c}`);

/** Stored rows with the server recomputing SHA256(payload) next to the stored digest. */
async function readBack(tables: string[]) {
  const out = new Map<string, { stored: string; recomputed: string; size: number; length: number }[]>();
  for (const t of tables) {
    const rows = await adminRows<{ id: string; stored: string; recomputed: string; size: string; length: string }>(
      `SELECT id, hex(sha256) AS stored, hex(SHA256(payload)) AS recomputed, size, length(payload) AS length FROM dedup_lab.${t}`,
    );
    for (const r of rows) {
      const list = out.get(r.id) ?? [];
      list.push({ stored: r.stored, recomputed: r.recomputed, size: Number(r.size), length: Number(r.length) });
      out.set(r.id, list);
    }
  }
  return out;
}

function expectManifest(rows: Awaited<ReturnType<typeof readBack>>, ds: Dataset, keep: (index: number) => boolean = () => true): void {
  const units = [...ds.units()].filter((u) => keep(u.index));
  expect(rows.size).toBe(units.length);
  for (const u of units) {
    const r = rows.get(u.id);
    expect(r, u.id).toHaveLength(1);
    expect(r![0]!.stored).toBe(u.sha256.toString("hex").toUpperCase());
    expect(r![0]!.recomputed).toBe(r![0]!.stored);
    expect(r![0]!.length).toBe(u.size);
    expect(r![0]!.size).toBe(u.size);
  }
}

describe("clickhouse connector", () => {
  for (const variant of Object.keys(clickhouseDefinition.capabilities.variants)) {
    it(`runs a full cell through the contract (${variant})`, async () => {
      const ds = smallDataset({ units: 24, size: { min: 8192, max: 8192 }, fraction: 0.5, placement: "across", containers: 2 });
      const { sizes, snapshots } = await runCellThrough(system(), { variant, dataset: ds });
      const logical = ds.totals.logical_bytes;
      for (const [stage, rs] of Object.entries(sizes)) {
        expect(rs.filter((r) => r.layer === "L1" && r.primary), stage).toHaveLength(1);
        expect(rs.filter((r) => r.layer === "L2" && r.primary), stage).toHaveLength(1);
        for (const r of rs) expect(r.bytes, `${stage} ${r.metric}`).toBeGreaterThanOrEqual(0);
      }
      expect(primary(sizes.prepared, "L1")).toBe(0);
      // data_uncompressed_bytes counts every column: payload plus id, size and digest
      expect(primary(sizes.bulk, "L1")!).toBeGreaterThanOrEqual(logical);
      expect(primary(sizes.bulk, "L2")!).toBeGreaterThan(0);
      expect(primary(sizes.bulk, "L2")!).toBeLessThan(1.1 * logical);
      expect(primary(sizes.reset, "L2")).toBe(0);
      expect(primary(sizes.deleted, "L1")).toBe(0);
      expect(primary(sizes.maintained, "L1")).toBe(0);

      const snap = snapshots[1] as { version: string; degradations: string[]; insert_settings: object; tables: { engine: string }[] };
      expect(snap.tables.map((t) => t.engine)).toEqual(Array(2).fill(variant.startsWith("replacing") ? "ReplacingMergeTree" : "MergeTree"));
      expect(snap.insert_settings).toEqual({ insert_deduplicate: 0 });
      if (snap.version.startsWith("18.")) {
        // Debian's 18.16: no mutations_sync, no per-column codecs — recorded, not hidden
        expect(snap.degradations).toContainEqual(expect.stringMatching(/^mutations_sync unsupported on 18\.16/));
        const zstd = variant.endsWith("zstd");
        expect(snap.degradations.some((d) => d.startsWith("CODEC(ZSTD) needs ClickHouse ≥ 19.1"))).toBe(zstd);
        for (const r of sizes.bulk) expect(r.reason !== undefined, r.metric).toBe(zstd);
      }
      expect(await adminRows("SELECT name FROM system.databases WHERE name = 'dedup_lab'")).toEqual([]);
    });
  }

  it("stores payloads byte-exact (server-side SHA256 equals the manifest) in bulk and per unit", async () => {
    // sizes from 1 B to 70 kB exercise 1-, 2- and 3-byte RowBinary length prefixes
    for (const payload of ["random_binary", "text_document"]) {
      const ds = smallDataset({ payload, units: 50, size: { min: 1, max: 70_000 }, fraction: 0.5, placement: "across", containers: 3 });
      const sys = system();
      const cell = cellFor(ds, "mergetree_lz4");
      await withCell(sys, cell, async () => {
        await sys.bulkInsert(batchesOf(ds));
        expectManifest(await readBack(tablesOf(cell)), ds);
        await sys.reset();
        for (const u of ds.units()) await sys.insert(u);
        expectManifest(await readBack(tablesOf(cell)), ds);
      });
    }
  });

  it("DELETE returns only once the mutation is done", async () => {
    const ds = smallDataset({ units: 12, size: { min: 4096, max: 4096 }, fraction: 0, placement: "within" });
    const sys = system();
    const cell = cellFor(ds, "mergetree_lz4");
    const [table] = tablesOf(cell);
    await withCell(sys, cell, async () => {
      await sys.bulkInsert(batchesOf(ds));
      for (const u of ds.units()) {
        if (u.index % 2 === 1) continue;
        await sys.delete(u);
        const [pending] = await adminRows(`SELECT count() AS n FROM system.mutations WHERE database = 'dedup_lab' AND table = '${table}' AND is_done = 0`);
        expect(pending!.n).toBe("0");
        const [left] = await adminRows(`SELECT count() AS n FROM dedup_lab.${table} WHERE id = '${u.id}'`);
        expect(left!.n).toBe("0");
      }
      expectManifest(await readBack([table!]), ds, (i) => i % 2 === 1);
    });
  });

  it("ReplacingMergeTree collapses duplicates after OPTIMIZE FINAL (rows == uniques), MergeTree keeps every row", async () => {
    const ds = smallDataset({ units: 40, size: { min: 4096, max: 4096 }, fraction: 0.75, placement: "within" });
    const uniques = new Set([...ds.units()].map((u) => u.group)).size;
    expect(uniques).toBe(10);
    const counts: Record<string, { rows: number; distinct: number; parts: number }> = {};
    for (const variant of ["mergetree_lz4", "replacing_lz4"]) {
      const sys = system();
      const cell = cellFor(ds, variant);
      const [table] = tablesOf(cell);
      await withCell(sys, cell, async () => {
        // several INSERTs so there are parts to merge
        for (const batch of ds.batches(40 * 1024)) await sys.bulkInsert((async function* () { yield batch; })());
        await sys.maintenance("optimize_final");
        const [r] = await adminRows<Record<string, string>>(`SELECT count() AS rows, uniqExact(sha256) AS distinct FROM dedup_lab.${table}`);
        const [p] = await adminRows<Record<string, string>>(`SELECT count() AS parts FROM system.parts WHERE database = 'dedup_lab' AND table = '${table}' AND active`);
        counts[variant] = { rows: Number(r!.rows), distinct: Number(r!.distinct), parts: Number(p!.parts) };
      });
    }
    expect(counts.mergetree_lz4).toEqual({ rows: 40, distinct: 10, parts: 1 });
    expect(counts.replacing_lz4).toEqual({ rows: 10, distinct: 10, parts: 1 });
  });

  it("retries inside a stage while the server restarts", async () => {
    const services = (action: string) => promisify(execFile)("bash", [join(ROOT, "scripts/services.sh"), action, "clickhouse"]);
    const ds = smallDataset({ units: 4, placement: "within" });
    const sys = system();
    const cell = cellFor(ds, "mergetree_lz4");
    try {
      await withCell(sys, cell, async () => {
        await sys.insert(ds.unit(0));
        await services("down");
        const restarted = new Promise((r) => setTimeout(r, 300)).then(() => services("up"));
        await sys.insert(ds.unit(1)); // refused at first, lands once the server is back
        await restarted;
        expectManifest(await readBack(tablesOf(cell)), ds, (i) => i < 2);
      });
    } finally {
      await services("up");
    }
  });

  it("refuses a non-lab database before connecting", () => {
    expect(clickhouseDefinition.checkNamespace!(options({ database: "default" }), lab)).toMatch(
      /^clickhouse: database "default" is outside the lab namespace — use "dedup_lab"/,
    );
    expect(clickhouseDefinition.checkNamespace!(options({ database: "dedup_lab" }), lab)).toBeNull();
  });

  it("reports a wrong password as one line naming system and endpoint, without the password", async () => {
    process.env.DEDUP_TEST_WRONG_CLICKHOUSE_PW = "wrong-secret-Xv7";
    const err = await system({ passwordEnv: "DEDUP_TEST_WRONG_CLICKHOUSE_PW" }).connect().then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(
      new RegExp(`^clickhouse at ${endpoint.replace(/\./g, "\\.")}: connect as dedup_lab failed: Wrong password for user dedup_lab \\(Code 193\\) — check the user and the password in \\$DEDUP_TEST_WRONG_CLICKHOUSE_PW$`),
    );
    expect(err!.message).not.toContain("wrong-secret-Xv7");
    expect(err!.message).not.toContain(env.DEDUP_CLICKHOUSE_PASSWORD);
  });

  it("reports an unreachable port and a missing password variable as one line", async () => {
    const refused = await system({ port: 1 }).connect().then(() => null, (e: Error) => e);
    expect(refused?.message).toMatch(/^clickhouse at 127\.0\.0\.1:1: connect as dedup_lab failed: connection refused \(connect ECONNREFUSED 127\.0\.0\.1:1\) — is the server running on this host and port\?$/);
    const unset = await system({ passwordEnv: "DEDUP_TEST_UNSET_VARIABLE" }).connect().then(() => null, (e: Error) => e);
    expect(unset?.message).toMatch(/^clickhouse at 127\.0\.0\.1:\d+: password variable \$DEDUP_TEST_UNSET_VARIABLE is not set/);
  });
});
