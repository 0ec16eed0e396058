// SQL text for the cockroach connector: pure functions, unit-tested. CockroachDB keeps the
// lab in its own database (three-part names), has no VACUUM/TOAST, reclaims space by MVCC GC
// after the zone's gc.ttlseconds plus Pebble compaction, and reports sizes as span statistics.
import type { Unit } from "../contract.js";
import { ident, qualify } from "../postgres/postgres-sql.js";

export const CRDB_VARIANTS = {
  default: "primary key on id, payload inline in the row (Pebble block compression)",
  hash_index: "plus a secondary index on sha256",
} as const;
export type CrdbVariant = keyof typeof CRDB_VARIANTS;

export const CRDB_MAINTENANCE = {
  gc_wait: "wait (bounded) until MVCC GC has removed deleted versions; the lab zone's gc.ttlseconds is lowered in prepare",
  compact: "gc_wait, then compact the lab key span on every store (crdb_internal.compact_engine_span; needs the admin role)",
} as const;

export function crdbTable(database: string, table: string): string {
  return qualify(database, "public", table);
}

export function createDatabaseSql(database: string): string {
  return `CREATE DATABASE IF NOT EXISTS ${ident(database)}`;
}

/** Without `cascade` (RESTRICT) only an empty database is dropped; the server refuses otherwise. */
export function dropDatabaseSql(database: string, cascade = true): string {
  return `DROP DATABASE IF EXISTS ${ident(database)} ${cascade ? "CASCADE" : "RESTRICT"}`;
}

export function gcTtlSql(database: string, seconds: number): string {
  if (!Number.isInteger(seconds) || seconds < 1) throw new Error(`gc.ttlseconds must be a positive integer, got ${seconds}`);
  return `ALTER DATABASE ${ident(database)} CONFIGURE ZONE USING gc.ttlseconds = ${seconds}`;
}

export function showZoneSql(database: string): string {
  return `SHOW ZONE CONFIGURATION FROM DATABASE ${ident(database)}`;
}

/** Types every PostgreSQL-wire server accepts (text = STRING, bytea = BYTES on CockroachDB). */
export function createTableSql(table: string, variant: CrdbVariant, hashIndexName: string): string[] {
  const out = [`CREATE TABLE ${table} (id text PRIMARY KEY, size int4 NOT NULL, sha256 bytea NOT NULL, payload bytea NOT NULL)`];
  if (variant === "hash_index") out.push(`CREATE INDEX ${ident(hashIndexName)} ON ${table} (sha256)`);
  return out;
}

/** One multi-row INSERT for `rows` units: ($1, $2, $3, $4), ($5, …). */
export function multiRowInsertSql(table: string, rows: number): string {
  const tuples: string[] = [];
  for (let r = 0; r < rows; r++) {
    const b = r * 4;
    tuples.push(`($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4})`);
  }
  return `INSERT INTO ${table} (id, size, sha256, payload) VALUES ${tuples.join(", ")}`;
}

export function multiRowInsertValues(units: Pick<Unit, "id" | "size" | "sha256" | "payload">[]): unknown[] {
  return units.flatMap((u) => [u.id, u.size, u.sha256, u.payload]);
}

/** Split units into statements of at most maxRows rows and (beyond the first row) maxBytes payload bytes. */
export function chunkForInsert<T extends { payload: Buffer }>(units: T[], maxRows: number, maxBytes: number): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let bytes = 0;
  for (const u of units) {
    if (cur.length > 0 && (cur.length >= maxRows || bytes + u.payload.length > maxBytes)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(u);
    bytes += u.payload.length;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** MVCC span statistics of the whole lab database, the DB Console's query ($1 = database name). */
export const SPAN_STATS_SQL =
  "SELECT COALESCE(sum(live_bytes), 0) AS live_bytes, COALESCE(sum(total_bytes), 0) AS total_bytes, " +
  "COALESCE(sum(approximate_disk_bytes), 0) AS approximate_disk_bytes, COALESCE(sum(range_count), 0) AS range_count " +
  "FROM crdb_internal.tenant_span_stats((SELECT crdb_internal.get_database_id($1)))";

/** Per-table span statistics for the snapshot ($1 = database name). */
export const TABLE_SPAN_STATS_SQL =
  "SELECT s.table_id, t.name, s.range_count, s.live_bytes, s.total_bytes, s.approximate_disk_bytes, s.live_percentage " +
  "FROM crdb_internal.tenant_span_stats((SELECT crdb_internal.get_database_id($1))) s " +
  "LEFT JOIN crdb_internal.tables t ON t.table_id = s.table_id ORDER BY s.table_id";

/** Per-range sums, the cross-check for cockroach#173182 (span totals scale with nodes contacted). */
export function rangesDetailsSql(database: string): string {
  return (
    "SELECT count(*) AS ranges, COALESCE(sum(range_size), 0) AS range_size, " +
    "COALESCE(sum((span_stats->>'approximate_disk_bytes')::INT8), 0) AS approximate_disk_bytes, " +
    "COALESCE(sum((span_stats->>'live_bytes')::INT8), 0) AS live_bytes " +
    `FROM [SHOW RANGES FROM DATABASE ${ident(database)} WITH DETAILS]`
  );
}

export const STORES_SQL = "SELECT node_id, store_id FROM crdb_internal.kv_store_status ORDER BY node_id, store_id";

/** Compact the lab database's key span on one store ($1 = node id, $2 = store id). */
export function compactSql(database: string): string {
  const ranges = `[SHOW RANGES FROM DATABASE ${ident(database)} WITH KEYS]`;
  return (
    "SELECT crdb_internal.compact_engine_span($1, $2, " +
    `(SELECT raw_start_key FROM ${ranges} ORDER BY raw_start_key LIMIT 1), ` +
    `(SELECT raw_end_key FROM ${ranges} ORDER BY raw_end_key DESC LIMIT 1))`
  );
}

/**
 * Whether MVCC GC has caught up: the garbage (total − live bytes) is down to 1 % of what it
 * was when the wait started, or below 64 KiB (range-local bookkeeping never goes to zero).
 */
export function gcSettled(initialGarbage: number, live: number, total: number): boolean {
  const garbage = Math.max(0, total - live);
  return garbage <= Math.max(64 * 1024, initialGarbage * 0.01);
}
