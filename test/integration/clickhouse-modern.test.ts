// The ClickHouse connector on a current engine: ClickHouse 26.x run in-process by chdb (PyPI
// chdb-core) behind scripts/services/chdb-bridge.py (`scripts/services.sh up chdb`), reached
// through the registry exactly as the runner reaches it. Debian's 18.16 (clickhouse.test.ts)
// has no per-column codecs, so only here do the *_zstd variants run what their name says.
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from "@clickhouse/client";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Dataset } from "../../lib/generators/dataset.js";
import { readMeta } from "../../lib/results/bundle.js";
import type { CellContext, LabSystem, SizeReading } from "../../lib/systems/contract.js";
import { LabNamespace } from "../../lib/systems/namespace.js";
import { loadSystems, systemDefinition } from "../../lib/systems/registry.js";
import { TempDirs, rowsOf } from "../helpers/bundles.js";
import { primary, runCellThrough, sizesProblems, smallDataset } from "../helpers/contract-harness.js";
import { ROOT, loadServicesEnv } from "../helpers/services-env.js";

const env = loadServicesEnv();
const lab = new LabNamespace();
const temps = new TempDirs("dedup-lab-chmodern-");
const VARIANTS = ["mergetree_lz4", "mergetree_zstd", "replacing_lz4", "replacing_zstd"] as const;
const ZSTD_LEVEL = 3;

function system(over: Record<string, unknown> = {}): LabSystem {
  const def = systemDefinition("clickhouse");
  const options = def.options.parse({
    host: env.DEDUP_CHDB_HOST,
    port: env.DEDUP_CHDB_PORT,
    user: env.DEDUP_CHDB_USER,
    passwordEnv: "DEDUP_CHDB_PASSWORD",
    zstdLevel: ZSTD_LEVEL,
    ...over,
  });
  return def.create(options, lab);
}

let admin: ClickHouseClient;
beforeAll(async () => {
  await loadSystems(["clickhouse"]);
  admin = createClient({
    url: `http://${env.DEDUP_CHDB_HOST}:${env.DEDUP_CHDB_PORT}`,
    username: env.DEDUP_CHDB_ADMIN_USER,
    password: env.DEDUP_CHDB_ADMIN_PASSWORD,
    log: { level: ClickHouseLogLevel.OFF },
  });
});
afterAll(async () => {
  await admin?.close();
  temps.removeAll();
});

async function adminRows<T = Record<string, string>>(query: string): Promise<T[]> {
  return (await admin.query({ query, format: "JSONEachRow" })).json<T>();
}

const tablesOf = (cell: CellContext) => Array.from({ length: cell.containers }, (_, c) => `units_${cell.cellKey}_c${c}`);
const inList = (tables: string[]) => tables.map((t) => `'${t}'`).join(", ");

/** payload column codecs of the cell's tables, from system.columns. */
async function payloadCodecs(tables: string[]): Promise<string[]> {
  const rows = await adminRows<{ compression_codec: string }>(
    `SELECT compression_codec FROM system.columns WHERE database = 'dedup_lab' AND table IN (${inList(tables)}) AND name = 'payload' ORDER BY table`,
  );
  return rows.map((r) => r.compression_codec);
}

function cellFor(ds: Dataset, variant: string): CellContext {
  return { lab, cellKey: "m" + Math.random().toString(36).slice(2, 8), variant, containers: ds.containers, workDir: temps.make(), log: () => {} };
}

async function* once(ds: Dataset) {
  for (const b of ds.batches(64 * 1024)) yield b;
}

describe("the chdb bridge is a current ClickHouse engine", () => {
  it("answers as ClickHouse ≥ 19.1 with the settings the modern path uses", async () => {
    const [v] = await adminRows<{ v: string }>("SELECT version() AS v");
    expect(Number(v!.v.split(".")[0])).toBeGreaterThanOrEqual(24);
    expect(await admin.ping()).toEqual({ success: true });
    const names = (await adminRows<{ name: string }>("SELECT name FROM system.settings WHERE name IN ('mutations_sync', 'insert_deduplicate')")).map((r) => r.name);
    expect(names.sort()).toEqual(["insert_deduplicate", "mutations_sync"]);
    // a per-request setting applies to that request only
    const [was] = await adminRows<{ value: string }>("SELECT value FROM system.settings WHERE name = 'mutations_sync'");
    const [s] = (await (await admin.query({ query: "SELECT value FROM system.settings WHERE name = 'mutations_sync'", format: "JSONEachRow", clickhouse_settings: { mutations_sync: "2" } })).json<{ value: string }>());
    expect(s!.value).toBe("2");
    const [d] = await adminRows<{ value: string }>("SELECT value FROM system.settings WHERE name = 'mutations_sync'");
    expect(d!.value).toBe(was!.value);
    expect(was!.value).not.toBe("2");
  });

  it("refuses wrong credentials with the server's code", async () => {
    const bad = createClient({ url: `http://${env.DEDUP_CHDB_HOST}:${env.DEDUP_CHDB_PORT}`, username: env.DEDUP_CHDB_USER, password: "wrong", log: { level: ClickHouseLogLevel.OFF } });
    try {
      await expect(bad.query({ query: "SELECT 1" })).rejects.toMatchObject({ code: "516", type: "AUTHENTICATION_FAILED" });
    } finally {
      await bad.close();
    }
  });
});

describe("clickhouse connector on the current engine (through the registry)", () => {
  for (const variant of VARIANTS) {
    it(`${variant}: every stage ok, settled, and the payload stored with what the name says`, async () => {
      const ds = smallDataset({ payload: "text_document", units: 12, size: { min: 16384, max: 16384 }, fraction: 0.5, placement: "across", containers: 2 });
      const cellKey = "m" + Math.random().toString(36).slice(2, 8);
      const tables = [0, 1].map((c) => `units_${cellKey}_c${c}`);
      let seen: { codecs: string[]; rows: number } | undefined;
      const result = await runCellThrough(system(), {
        variant,
        dataset: ds,
        cellKey,
        afterStage: async (stage, _sys, when) => {
          if (when !== "settled" || stage !== "perfile_insert") return;
          const [r] = await adminRows<{ rows: string }>(`SELECT sum(rows) AS rows FROM system.parts WHERE database = 'dedup_lab' AND table IN (${inList(tables)}) AND active`);
          seen = { codecs: await payloadCodecs(tables), rows: Number(r!.rows) };
        },
      });

      // the server is current and nothing was degraded
      expect(result.capabilities.variants[variant]).not.toMatch(/no per-column CODEC/);
      if (variant.endsWith("zstd")) expect(result.capabilities.variants[variant]).toContain(`CODEC(ZSTD(${ZSTD_LEVEL}))`);
      const snap = result.snapshots[1] as {
        version: string; payload_codec: string; degradations: string[]; insert_settings: object;
        tables: { engine: string; create_table_query: string }[]; columns: { name: string; compression_codec?: string }[];
      };
      expect(Number(snap.version.split(".")[0])).toBeGreaterThanOrEqual(24);
      expect(snap.degradations).toEqual([]);
      expect(snap.insert_settings).toEqual({ insert_deduplicate: 0 });
      const wanted = variant.endsWith("zstd") ? `ZSTD(${ZSTD_LEVEL})` : "LZ4";
      expect(snap.payload_codec).toBe(wanted);
      expect(snap.tables.map((t) => t.engine)).toEqual(Array(2).fill(variant.startsWith("replacing") ? "ReplacingMergeTree" : "MergeTree"));
      for (const t of snap.tables) expect(t.create_table_query).toContain(`\`payload\` String CODEC(${wanted})`);
      expect(snap.columns.filter((c) => c.name === "payload").map((c) => c.compression_codec)).toEqual([`CODEC(${wanted})`, `CODEC(${wanted})`]);

      // system.columns on the engine itself, while the cell's tables held the per-unit inserts
      expect(seen!.codecs).toEqual([`CODEC(${wanted})`, `CODEC(${wanted})`]);
      // one row per unit; a ReplacingMergeTree may already have merged some duplicates away (never below the uniques per table)
      const uniquesPerTable = new Set([...ds.units()].map((u) => `${u.container}/${u.group}`)).size;
      if (variant.startsWith("replacing")) expect(seen!.rows).toBeGreaterThanOrEqual(uniquesPerTable);
      else expect(seen!.rows).toBe(12);

      // every operation answered ok, every settle() ok, every reading settled and well-formed
      for (const [stage, list] of Object.entries(result.statuses)) {
        expect(list.length, stage).toBeGreaterThan(0);
        for (const s of list) expect(s, stage).toEqual({ code: "ok" });
      }
      expect(result.settles.length).toBeGreaterThanOrEqual(6);
      for (const s of result.settles) expect(s).toEqual({ code: "ok" });
      for (const [point, readings] of Object.entries(result.sizes)) {
        expect(sizesProblems(readings, ["L1", "L2"]), point).toEqual([]);
        for (const r of readings) expect(r.reason, `${point} ${r.metric}`).toBeUndefined();
        expect(result.unsettled[point as keyof typeof result.unsettled], point).toBe("");
      }
      expect(primary(result.sizes.prepared, "L1")).toBe(0);
      expect(primary(result.sizes.bulk, "L1")!).toBeGreaterThan(0);
      expect(primary(result.sizes.bulk, "L2")!).toBeGreaterThan(0);
      expect(primary(result.sizes.reset, "L2")).toBe(0);
      expect(primary(result.sizes.perfile, "L2")!).toBeGreaterThan(0);
      // every unit deleted by ALTER … DELETE with mutations_sync: no live rows left
      expect(primary(result.sizes.deleted, "L1")).toBe(0);
      expect(primary(result.sizes.maintained, "L1")).toBe(0);
      expect(await adminRows("SELECT name FROM system.databases WHERE name = 'dedup_lab'")).toEqual([]);
    });
  }

  /**
   * One cell of `variant`: per-unit inserts (one part per unit: nothing collapses at insert
   * time), then `fn`. With `holdMerges` the admin stops background merges on the cell's tables
   * before the units go in, so the duplicates are still there when `fn` starts; `fn` starts them
   * again with `startMerges()`.
   */
  async function withUnits<T>(
    variant: string, ds: Dataset, fn: (sys: LabSystem, tables: string[], startMerges: () => Promise<void>) => Promise<T>, holdMerges = false,
  ): Promise<T> {
    const sys = system();
    const cell = cellFor(ds, variant);
    await sys.connect();
    try {
      await sys.prepare(cell);
      const tables = tablesOf(cell);
      if (holdMerges) for (const t of tables) await admin.command({ query: `SYSTEM STOP MERGES dedup_lab.${t}` });
      for (const u of ds.units()) expect(await sys.insert(u)).toEqual({ code: "ok" });
      const startMerges = async () => {
        for (const t of tables) await admin.command({ query: `SYSTEM START MERGES dedup_lab.${t}` });
      };
      return await fn(sys, tables, startMerges);
    } finally {
      await sys.cleanup();
      await sys.close();
    }
  }

  const layer = (rs: SizeReading[], l: "L1" | "L2") => primary(rs, l)!;

  it("replacing_*: OPTIMIZE FINAL at U90 collapses the rows to the uniques and reduces L1 and L2; mergetree_* keeps every row", async () => {
    const ds = smallDataset({ payload: "random_binary", units: 40, size: { min: 8192, max: 8192 }, fraction: 0.9, placement: "within" });
    const uniques = new Set([...ds.units()].map((u) => u.group)).size;
    expect(uniques).toBe(4);
    const out: Record<string, { rowsBefore: number; rowsAfter: number; before: SizeReading[]; after: SizeReading[] }> = {};
    for (const variant of VARIANTS) {
      out[variant] = await withUnits(variant, ds, async (sys, [table], startMerges) => {
        const rows = async () => Number((await adminRows<{ n: string }>(`SELECT count() AS n FROM dedup_lab.${table}`))[0]!.n);
        expect(await sys.settle!()).toEqual({ code: "ok" });
        const rowsBefore = await rows();
        const before = await sys.sizes();
        await startMerges();
        expect(await sys.maintenance("optimize_final")).toEqual({ code: "ok" });
        expect(await sys.settle!()).toEqual({ code: "ok" });
        const [p] = await adminRows<{ n: string }>(`SELECT count() AS n FROM system.parts WHERE database = 'dedup_lab' AND table = '${table}' AND active`);
        expect(Number(p!.n), variant).toBe(1);
        return { rowsBefore, rowsAfter: await rows(), before, after: await sys.sizes() };
      }, true);
    }
    for (const [variant, r] of Object.entries(out)) {
      console.log(`${variant} U90 40 × 8 KiB random_binary, OPTIMIZE FINAL: rows ${r.rowsBefore} → ${r.rowsAfter}, L1 ${layer(r.before, "L1")} → ${layer(r.after, "L1")} B, L2 ${layer(r.before, "L2")} → ${layer(r.after, "L2")} B`);
    }
    for (const variant of ["replacing_lz4", "replacing_zstd"]) {
      const r = out[variant]!;
      expect(r.rowsAfter, variant).toBe(uniques);
      expect(r.rowsBefore, variant).toBeGreaterThan(uniques);
      expect(layer(r.after, "L1"), variant).toBeLessThan(layer(r.before, "L1"));
      expect(layer(r.after, "L2"), variant).toBeLessThan(layer(r.before, "L2"));
      // what is left is the uniques' payload (random bytes: ≈ incompressible) plus the other columns
      expect(layer(r.after, "L2"), variant).toBeLessThan(2 * uniques * 8192);
      expect(layer(r.after, "L2"), variant).toBeGreaterThan(uniques * 8192);
    }
    for (const variant of ["mergetree_lz4", "mergetree_zstd"]) {
      expect(out[variant]!.rowsBefore, variant).toBe(40);
      expect(out[variant]!.rowsAfter, variant).toBe(40);
      expect(layer(out[variant]!.after, "L1"), variant).toBeGreaterThanOrEqual(40 * 8192);
    }
  });

  it("ZSTD and LZ4 give different bytes on disk for the same data (system.parts), each named in system.columns", async () => {
    const ds = smallDataset({ payload: "text_document", units: 40, size: { min: 16384, max: 16384 }, fraction: 0, placement: "within" });
    const l2: Record<string, number> = {};
    for (const variant of ["mergetree_lz4", "mergetree_zstd"]) {
      const sys = system();
      const cell = cellFor(ds, variant);
      await sys.connect();
      try {
        await sys.prepare(cell);
        expect(await sys.bulkInsert(once(ds))).toEqual({ code: "ok" });
        expect(await sys.settle!()).toEqual({ code: "ok" });
        expect(await payloadCodecs(tablesOf(cell))).toEqual([variant.endsWith("zstd") ? `CODEC(ZSTD(${ZSTD_LEVEL}))` : "CODEC(LZ4)"]);
        const [p] = await adminRows<{ bytes: string; rows: string }>(
          `SELECT sum(bytes_on_disk) AS bytes, sum(rows) AS rows FROM system.parts WHERE database = 'dedup_lab' AND table = '${tablesOf(cell)[0]}' AND active`,
        );
        expect(Number(p!.rows)).toBe(40);
        l2[variant] = layer(await sys.sizes(), "L2");
        expect(l2[variant]).toBe(Number(p!.bytes));
      } finally {
        await sys.cleanup();
        await sys.close();
      }
    }
    console.log(`text_document U0, 40 × 16 KiB (${ds.totals.logical_bytes} B): bytes_on_disk LZ4 ${l2.mergetree_lz4} B, ZSTD(${ZSTD_LEVEL}) ${l2.mergetree_zstd} B`);
    // English text: ZSTD(3) compresses clearly better than LZ4; both far below the logical bytes
    expect(l2.mergetree_zstd!).toBeLessThan(0.9 * l2.mergetree_lz4!);
    expect(l2.mergetree_lz4!).toBeLessThan(ds.totals.logical_bytes);
  });

  it("settle() returns ok after inserts, and then no merge runs and no mutation is pending on the cell's tables", async () => {
    const ds = smallDataset({ units: 30, size: { min: 4096, max: 4096 }, fraction: 0.5, placement: "across", containers: 2 });
    await withUnits("replacing_zstd", ds, async (sys, tables) => {
      // 30 one-row parts and a pending mutation: work for the background pools
      expect(await sys.delete([...ds.units()][0]!)).toEqual({ code: "ok" });
      expect(await sys.settle!()).toEqual({ code: "ok" });
      const [m] = await adminRows<{ n: string }>(`SELECT count() AS n FROM system.merges WHERE database = 'dedup_lab' AND table IN (${inList(tables)})`);
      const [u] = await adminRows<{ n: string }>(`SELECT count() AS n FROM system.mutations WHERE database = 'dedup_lab' AND table IN (${inList(tables)}) AND is_done = 0`);
      expect({ merges: Number(m!.n), pending: Number(u!.n) }).toEqual({ merges: 0, pending: 0 });
    });
  });
});

describe("dedup-lab run --config examples/clickhouse-current.yaml (the bridge)", () => {
  it("writes valid rows for every variant, the *_zstd cells stored with ZSTD (and a valid insert EDR from L3)", async () => {
    const out = join(temps.make(), "bundle");
    const { stdout } = await promisify(execFile)(process.execPath, [
      join(ROOT, "bin/dedup-lab.js"), "run", "--config", join(ROOT, "examples/clickhouse-current.yaml"),
      "--payloads", "text_document", "--grades", "U90", "--units", "10", "--out", out, "--quiet",
    ], { cwd: ROOT, env: process.env, timeout: 300_000 });
    expect(stdout).toMatch(/4 cells done, 0 failed/);
    expect(await readMeta(out)).toMatchObject({ status: "complete", cells_done: 4, cells_failed: 0 });
    const rows = await rowsOf(out);
    for (const variant of ["mergetree_zstd", "replacing_zstd"]) {
      const cell = `clickhouse.${variant}.text_document.U90.file.within.r1`;
      const of = rows.filter((r) => r.cell_id === cell);
      for (const stage of ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"]) {
        expect(of.some((r) => r.stage === stage && r.metric === "stage_end"), `${cell} ${stage}`).toBe(true);
      }
      // the insert stages' L1/L2 size rows are valid and carry no reason (nothing degraded, all settled)
      for (const stage of ["bulk_insert", "perfile_insert"]) {
        for (const l of ["L1", "L2"]) {
          const sized = of.filter((r) => r.stage === stage && r.layer === l && r.phase === "after" && r.value !== null);
          expect(sized.length, `${cell} ${stage} ${l}`).toBeGreaterThan(0);
          for (const r of sized) expect({ valid: r.valid, reason: r.reason }, `${cell} ${stage} ${r.metric}`).toEqual({ valid: true, reason: "" });
        }
      }
      // l3: local reads the engine's data directories of the cell's tables: the insert EDR is defined and valid
      const edr = of.filter((r) => r.stage === "bulk_insert" && r.metric === "edr_cluster");
      expect(edr, cell).toHaveLength(1);
      expect({ valid: edr[0]!.valid, reason: edr[0]!.reason }, cell).toEqual({ valid: true, reason: "" });
      expect(edr[0]!.value!, cell).toBeGreaterThan(1); // U90 text under ZSTD(3): well below the logical bytes on disk
    }
    const snaps = readFileSync(join(out, "snapshots.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const bulkSnaps = snaps.filter((x) => x.stage === "bulk_insert" && x.point === "after");
    expect(bulkSnaps.length).toBe(4);
    for (const s of bulkSnaps) {
      const zstd = String(s.cell_id).includes("_zstd");
      expect(s.data.payload_codec, s.cell_id).toBe(zstd ? "ZSTD(3)" : "LZ4");
      const codecs = s.data.columns.filter((c: { name: string }) => c.name === "payload").map((c: { compression_codec: string }) => c.compression_codec);
      expect(codecs.length, s.cell_id).toBeGreaterThan(0);
      for (const c of codecs) expect(c, s.cell_id).toBe(zstd ? "CODEC(ZSTD(3))" : "CODEC(LZ4)");
    }
  });
});
