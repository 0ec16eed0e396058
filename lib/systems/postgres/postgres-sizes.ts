// Size readings and the statistics snapshot of the lab schema, from the catalog and
// pgstattuple. Functions over one client: the system runs them inside `retrying`.
import type pg from "pg";
import type { SizeReading } from "../contract.js";
import {
  RELATION_SIZES_SQL, SNAPSHOT_SETTINGS, payloadSizesSql, pgstatindexSql, pgstattupleSql, qualify, type ServerInfo,
} from "./postgres-sql.js";

type Row = Record<string, unknown>;
const num = (v: unknown): number => Number(v ?? 0);

/** Schema of the pgstattuple extension, or a reason why it cannot be used. */
async function pgstattupleSchema(c: pg.Client, database: string): Promise<{ schema?: string; reason?: string }> {
  const r = await c.query("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pgstattuple'");
  if (r.rowCount === 0) return { reason: `pgstattuple extension not installed in database "${database}" (an admin can run CREATE EXTENSION pgstattuple)` };
  return { schema: String(r.rows[0].nspname) };
}

/** Live, dead and free bytes of the heaps and their TOAST relations, or nulls with a reason. */
async function pgstattupleTotals(c: pg.Client, database: string, rels: Row[]): Promise<{ live: number | null; dead: number | null; free: number | null; reason?: string }> {
  const ext = await pgstattupleSchema(c, database);
  if (!ext.schema) return { live: null, dead: null, free: null, reason: ext.reason };
  let live = 0;
  let dead = 0;
  let free = 0;
  try {
    for (const r of rels) {
      // By OID: naming pg_toast.* would need USAGE on schema pg_toast.
      for (const relid of [r.relid, r.toast_relid]) {
        if (relid === null) continue;
        const t = (await c.query(pgstattupleSql(ext.schema), [String(relid)])).rows[0] as Row;
        live += num(t.tuple_len);
        dead += num(t.dead_tuple_len);
        free += num(t.free_space);
      }
    }
  } catch (e) {
    if ((e as { code?: string }).code !== "42501") throw e;
    return { live: null, dead: null, free: null, reason: `pgstattuple: ${(e as Error).message} (the lab role needs pg_stat_scan_tables)` };
  }
  return { live, dead, free };
}

/**
 * L1 = stored payload bytes (pg_column_size; typed cells: of the field columns), L2 =
 * pg_total_relation_size (heap + TOAST + indexes), with the parts beside them — of the cell's own tables (names starting with `tablePrefix`), never another cell's.
 */
/** Typed cells: the L1 query of one table over its field columns (count, stored, raw), and the metric names it stands for. */
export interface L1Source {
  sql(qualifiedTable: string): string;
  stored: string;
  raw: string;
}

const PAYLOAD_L1: L1Source = { sql: payloadSizesSql, stored: "pg_column_size_payload", raw: "octet_length_payload" };

export async function readPostgresSizes(c: pg.Client, schema: string, database: string, tablePrefix: string, l1: L1Source = PAYLOAD_L1): Promise<SizeReading[]> {
  const rels = ((await c.query(RELATION_SIZES_SQL, [schema])).rows as Row[]).filter((r) => String(r.relname).startsWith(tablePrefix));
  const sum = (k: string) => rels.reduce((a, r) => a + num(r[k]), 0);
  let stored = 0;
  let raw = 0;
  for (const r of rels) {
    const p = (await c.query(l1.sql(qualify(schema, String(r.relname))))).rows[0] as Row;
    stored += num(p.stored);
    raw += num(p.raw);
  }
  const tuple = await pgstattupleTotals(c, database, rels);
  return [
    { layer: "L1", metric: l1.stored, bytes: stored, primary: true },
    { layer: "L1", metric: l1.raw, bytes: raw },
    { layer: "L1", metric: "pgstattuple_tuple_len", bytes: tuple.live, ...(tuple.reason ? { reason: tuple.reason } : {}) },
    { layer: "L2", metric: "pg_total_relation_size", bytes: sum("total_bytes"), primary: true },
    { layer: "L2", metric: "pg_table_size", bytes: sum("table_bytes") },
    { layer: "L2", metric: "pg_indexes_size", bytes: sum("index_bytes") },
    { layer: "L2", metric: "toast_total_size", bytes: sum("toast_bytes") },
    { layer: "L2", metric: "pgstattuple_dead_tuple_len", bytes: tuple.dead, ...(tuple.reason ? { reason: tuple.reason } : {}) },
    { layer: "L2", metric: "pgstattuple_free_space", bytes: tuple.free, ...(tuple.reason ? { reason: tuple.reason } : {}) },
  ] satisfies SizeReading[];
}

export interface PostgresSnapshotContext {
  schema: string;
  database: string;
  server: ServerInfo & { versionNum: number };
  namespaceKind: "schema" | "database";
  notes: string[];
  reconnects: { doing: string; error: string }[];
  /** One-line wording of an error (for a pgstatindex call that failed). */
  describe(e: unknown): string;
}

/** Catalog, settings, pgstatindex and statistics views of the lab schema. */
export async function readPostgresSnapshot(c: pg.Client, x: PostgresSnapshotContext): Promise<unknown> {
  const schema = x.schema;
  const q = async (sql: string, params: unknown[] = [schema]) => (await c.query(sql, params)).rows as Row[];
  const compression = x.server.versionNum >= 140000 ? "a.attcompression" : "NULL";
  const indexes = await q("SELECT i.indexname, i.tablename, i.indexdef, c.reloptions FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = i.schemaname WHERE i.schemaname = $1 ORDER BY i.indexname");
  const ext = await pgstattupleSchema(c, x.database);
  const pgstatindex: Row[] = [];
  if (ext.schema) {
    for (const ix of indexes) {
      try {
        const r = await q(pgstatindexSql(ext.schema), [qualify(schema, String(ix.indexname))]);
        pgstatindex.push({ index: ix.indexname, ...r[0] });
      } catch (e) {
        pgstatindex.push({ index: ix.indexname, error: x.describe(e) });
      }
    }
  }
  return {
    server: x.server,
    namespace: { kind: x.namespaceKind, name: schema, database: x.database },
    settings: await q("SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1) ORDER BY name", [SNAPSHOT_SETTINGS]),
    relations: await q(RELATION_SIZES_SQL),
    columns: await q(`SELECT c.relname, a.attname, a.attstorage, ${compression} AS attcompression FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum`),
    indexes,
    pgstatindex: ext.schema ? pgstatindex : { unavailable: ext.reason },
    pg_stat_user_tables: await q("SELECT * FROM pg_stat_user_tables WHERE schemaname = $1 ORDER BY relname"),
    pg_statio_user_tables: await q("SELECT * FROM pg_statio_user_tables WHERE schemaname = $1 ORDER BY relname"),
    notes: x.notes,
    reconnects: x.reconnects,
  };
}
