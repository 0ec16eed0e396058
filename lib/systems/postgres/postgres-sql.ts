// SQL text for the postgres connector: pure functions, unit-tested. Every statement is one
// line and names lab objects schema-qualified, so the server's statement log can be audited.
import type { Unit } from "../contract.js";

export const PG_VARIANTS = {
  default: "TOAST EXTENDED with pglz (PostgreSQL default storage)",
  external: "TOAST EXTERNAL: out-of-line, uncompressed payloads",
  lz4: "TOAST EXTENDED with lz4 compression (PostgreSQL 14+ built with lz4)",
  hash_index: "B-tree on sha256 with deduplicate_items = on (PostgreSQL 13+ default)",
  hash_index_nodedup: "B-tree on sha256 with deduplicate_items = off",
} as const;
export type PgVariant = keyof typeof PG_VARIANTS;

export const PG_MAINTENANCE = {
  vacuum: "VACUUM (ANALYZE), then CHECKPOINT",
  vacuum_full: "VACUUM FULL + REINDEX TABLE (returns space to the file system), then CHECKPOINT",
} as const;

/** Quote an identifier (names come from the LabNamespace, quoting is belt and braces). */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function qualify(...parts: string[]): string {
  return parts.map(ident).join(".");
}

/**
 * The prefix of the lab tables a scope owns: a cell key (its tables) or a run token (every
 * table of that run; all cell keys have the same length, so one never prefixes another).
 */
export function unitsTablePrefix(scope: string): string {
  return `units_${scope}`;
}

/** A cell's table of one container: `units_<cell key>_c<k>`, so runs and cells never share a table. */
export function unitsTableName(cellKey: string, container: number): string {
  return `${unitsTablePrefix(cellKey)}_c${container}`;
}

/** Names of the ordinary tables in the lab schema ($1 = schema). */
export const LAB_TABLES_SQL = "SELECT tablename AS name FROM pg_tables WHERE schemaname = $1 ORDER BY 1";

export function createTableSql(table: string, variant: PgVariant, serverVersionNum: number, hashIndexName: string): string[] {
  // Per-column COMPRESSION exists from PostgreSQL 14; before that pglz is the only method.
  const compression = serverVersionNum >= 140000 && variant !== "external" ? ` COMPRESSION ${variant === "lz4" ? "lz4" : "pglz"}` : "";
  const out = [`CREATE TABLE ${table} (id text PRIMARY KEY, size integer NOT NULL, sha256 bytea NOT NULL, payload bytea${compression} NOT NULL)`];
  // STORAGE in CREATE TABLE needs PostgreSQL 16; ALTER works everywhere.
  if (variant === "external") out.push(`ALTER TABLE ${table} ALTER COLUMN payload SET STORAGE EXTERNAL`);
  if (variant === "hash_index" || variant === "hash_index_nodedup") {
    const dedup = variant === "hash_index" ? "on" : "off";
    out.push(`CREATE INDEX ${ident(hashIndexName)} ON ${table} USING btree (sha256) WITH (deduplicate_items = ${dedup})`);
  }
  return out;
}

/** Why the server cannot run a variant, or null. */
export function variantProblem(variant: PgVariant, serverVersionNum: number, toastCompressions: string[]): string | null {
  if (variant === "lz4") {
    if (serverVersionNum < 140000) return "variant lz4 needs PostgreSQL 14+ (per-column compression) — use variant default";
    if (!toastCompressions.includes("lz4")) {
      return `variant lz4: server was built without lz4 (default_toast_compression accepts ${toastCompressions.join(", ") || "pglz"}) — use variant default`;
    }
  }
  if ((variant === "hash_index" || variant === "hash_index_nodedup") && serverVersionNum < 130000) {
    return `variant ${variant} needs PostgreSQL 13+ (B-tree deduplicate_items)`;
  }
  return null;
}

export function insertSql(table: string): string {
  return `INSERT INTO ${table} (id, size, sha256, payload) VALUES ($1, $2, $3, $4)`;
}

export function deleteSql(table: string): string {
  return `DELETE FROM ${table} WHERE id = $1`;
}

export function copyBinarySql(table: string): string {
  return `COPY ${table} (id, size, sha256, payload) FROM STDIN WITH (FORMAT binary)`;
}

/** Per-table relation sizes of every ordinary table in a schema ($1 = schema). */
export const RELATION_SIZES_SQL =
  "SELECT c.relname, pg_table_size(c.oid) AS table_bytes, pg_indexes_size(c.oid) AS index_bytes, " +
  "COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0) AS toast_bytes, pg_total_relation_size(c.oid) AS total_bytes, " +
  "c.oid::int8 AS relid, NULLIF(c.reltoastrelid, 0)::int8 AS toast_relid " +
  "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY c.relname";

/** Stored (post-compression) and raw payload bytes of one table. */
export function payloadSizesSql(table: string): string {
  return `SELECT count(*) AS n, COALESCE(sum(pg_column_size(payload)), 0) AS stored, COALESCE(sum(octet_length(payload)), 0) AS raw FROM ${table}`;
}

/** pgstattuple of a relation, with the extension's schema ($1 = relation OID or name, as text). */
export function pgstattupleSql(extSchema: string): string {
  return `SELECT table_len, tuple_count, tuple_len, dead_tuple_count, dead_tuple_len, free_space FROM ${ident(extSchema)}.pgstattuple($1::regclass)`;
}

export function pgstatindexSql(extSchema: string): string {
  return `SELECT version, tree_level, index_size, leaf_pages, avg_leaf_density, leaf_fragmentation FROM ${ident(extSchema)}.pgstatindex($1::regclass)`;
}

/** Settings recorded in every snapshot: the ones that change what sizes mean. */
export const SNAPSHOT_SETTINGS = [
  "server_version", "block_size", "default_toast_compression", "wal_compression", "fsync", "full_page_writes",
  "autovacuum", "shared_buffers", "checkpoint_timeout", "max_wal_size", "wal_level", "data_checksums",
];

// --- binary COPY framing (https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4) ---

/** File header: signature, flags (no OIDs), header-extension length 0. */
export const COPY_BINARY_HEADER = Buffer.concat([Buffer.from("PGCOPY\n\xff\r\n\0", "latin1"), Buffer.alloc(8)]);
/** File trailer: a field count of -1. */
export const COPY_BINARY_TRAILER = Buffer.from([0xff, 0xff]);

/**
 * Everything of a binary COPY row for (id text, size int4, sha256 bytea, payload bytea) up to
 * and including the payload's length word; the payload follows as its own buffer (not copied).
 */
export function copyRowPrefix(u: Pick<Unit, "id" | "size" | "sha256" | "payload">): Buffer {
  const id = Buffer.from(u.id, "utf8");
  const buf = Buffer.allocUnsafe(2 + 4 + id.length + 4 + 4 + 4 + u.sha256.length + 4);
  let o = buf.writeInt16BE(4, 0);
  o = buf.writeInt32BE(id.length, o);
  o += id.copy(buf, o);
  o = buf.writeInt32BE(4, o);
  o = buf.writeInt32BE(u.size, o);
  o = buf.writeInt32BE(u.sha256.length, o);
  o += u.sha256.copy(buf, o);
  buf.writeInt32BE(u.payload.length, o);
  return buf;
}

export interface ServerInfo {
  kind: "postgresql" | "cockroachdb" | "unknown";
  /** e.g. "15.18" or "24.3.1". */
  version: string;
  /** Human form for reasons: "PostgreSQL 15.18", "CockroachDB 24.3.1". */
  display: string;
}

/** Reads `SELECT version()` output of PostgreSQL or CockroachDB. */
export function parseServerVersion(text: string): ServerInfo {
  const crdb = /CockroachDB(?: CCL| OSS)? v?(\d+\.\d+(?:\.\d+)?[^\s(]*)/.exec(text);
  if (crdb) return { kind: "cockroachdb", version: crdb[1]!, display: `CockroachDB ${crdb[1]}` };
  const pgv = /^PostgreSQL (\d+(?:\.\d+)?[^\s(]*)/.exec(text);
  if (pgv) return { kind: "postgresql", version: pgv[1]!, display: `PostgreSQL ${pgv[1]}` };
  return { kind: "unknown", version: text.slice(0, 60), display: text.slice(0, 60) };
}
