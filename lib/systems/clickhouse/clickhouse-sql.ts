// SQL text for the ClickHouse connector. Pure functions, unit-tested. Values are inlined as
// escaped literals because old servers (18.16) have no query parameters; every name is a
// validated lab identifier, always qualified with the lab database.
// Quoting is the shared MySQL-style one (../mysql-quoting.ts).
import { ident, qualified, quotedLiteral } from "../mysql-quoting.js";

export { ident, qualified };

export const VARIANTS = {
  mergetree_lz4: { engine: "MergeTree", orderBy: "id", codec: "LZ4" },
  mergetree_zstd: { engine: "MergeTree", orderBy: "id", codec: "ZSTD" },
  replacing_lz4: { engine: "ReplacingMergeTree", orderBy: "sha256", codec: "LZ4" },
  replacing_zstd: { engine: "ReplacingMergeTree", orderBy: "sha256", codec: "ZSTD" },
} as const;
export type ClickhouseVariant = keyof typeof VARIANTS;

/** A ClickHouse string literal: backslash escapes, quotes escaped. */
export function literal(value: string): string {
  return quotedLiteral(value, "\\'");
}

export function createDatabaseSql(db: string): string {
  return `CREATE DATABASE IF NOT EXISTS ${ident(db)}`;
}

export function dropDatabaseSql(db: string): string {
  return `DROP DATABASE IF EXISTS ${ident(db)}`;
}

/**
 * One table per container. The payload codec is explicit where the server supports
 * per-column codecs (≥ 19.1): `CODEC(LZ4)`, or `CODEC(ZSTD(level))` when a level is given
 * (plain `CODEC(ZSTD)` = level 1 otherwise). Older servers use their configured default (LZ4
 * unless the server's <compression> section says otherwise), which the caller records as a
 * degradation.
 */
export function createTableSql(db: string, table: string, variant: ClickhouseVariant, codecs: boolean, zstdLevel?: number): string {
  const v = VARIANTS[variant];
  const codec = codecs ? ` CODEC(${codecSql(v.codec, zstdLevel)})` : "";
  return (
    `CREATE TABLE IF NOT EXISTS ${qualified(db, table)} (id String, size UInt64, sha256 FixedString(32), payload String${codec}) ` +
    `ENGINE = ${v.engine} ORDER BY ${v.orderBy}`
  );
}

/** "ZSTD" with a level → "ZSTD(3)"; LZ4 has no level. */
export function codecSql(codec: string, zstdLevel?: number): string {
  if (codec === "ZSTD" && zstdLevel !== undefined) {
    if (!Number.isInteger(zstdLevel) || zstdLevel < 1 || zstdLevel > 22) throw new Error(`ZSTD level ${zstdLevel} is not an integer in 1..22`);
    return `ZSTD(${zstdLevel})`;
  }
  return codec;
}

/** The tables of the lab database (none when it does not exist). */
export function labTablesSql(db: string): string {
  return `SELECT name FROM system.tables WHERE database = ${literal(db)} ORDER BY name`;
}

export function dropTableSql(db: string, table: string): string {
  return `DROP TABLE IF EXISTS ${qualified(db, table)}`;
}

export function insertRowBinarySql(db: string, table: string): string {
  return `INSERT INTO ${qualified(db, table)} (id, size, sha256, payload) FORMAT RowBinary`;
}

export function deleteSql(db: string, table: string, id: string): string {
  return `ALTER TABLE ${qualified(db, table)} DELETE WHERE id = ${literal(id)}`;
}

export function countIdSql(db: string, table: string, id: string): string {
  return `SELECT count() AS n FROM ${qualified(db, table)} WHERE id = ${literal(id)}`;
}

export function optimizeFinalSql(db: string, table: string): string {
  return `OPTIMIZE TABLE ${qualified(db, table)} FINAL`;
}

function inTables(db: string, tables: string[]): string {
  return `database = ${literal(db)} AND table IN (${tables.map(literal).join(", ")})`;
}

export function pendingMutationsSql(db: string, tables: string[]): string {
  return `SELECT count() AS pending FROM system.mutations WHERE ${inTables(db, tables)} AND is_done = 0`;
}

export function mutationsSql(db: string, tables: string[]): string {
  return `SELECT * FROM system.mutations WHERE ${inTables(db, tables)} ORDER BY table, mutation_id`;
}

/** Per-table totals over parts; `active` ones are the live data, inactive ones wait for removal. */
export function partTotalsSql(db: string, tables: string[]): string {
  return (
    "SELECT table, active, count() AS parts, sum(rows) AS rows, sum(bytes_on_disk) AS bytes_on_disk, " +
    "sum(data_compressed_bytes) AS data_compressed_bytes, sum(data_uncompressed_bytes) AS data_uncompressed_bytes " +
    `FROM system.parts WHERE ${inTables(db, tables)} GROUP BY table, active ORDER BY table, active`
  );
}

export function partsSql(db: string, tables: string[]): string {
  return (
    "SELECT table, name, active, level, rows, bytes_on_disk, data_compressed_bytes, data_uncompressed_bytes, marks, modification_time " +
    `FROM system.parts WHERE ${inTables(db, tables)} ORDER BY table, name`
  );
}

/** Per-column sizes; `withCodec` adds system.columns.compression_codec (servers with per-column codecs). */
export function columnsSql(db: string, tables: string[], withCodec = false): string {
  return (
    `SELECT table, name, type, ${withCodec ? "compression_codec, " : ""}data_compressed_bytes, data_uncompressed_bytes, marks_bytes ` +
    `FROM system.columns WHERE ${inTables(db, tables)} ORDER BY table, name`
  );
}

/** Background merges running on the cell's tables (settle waits for none). */
export function runningMergesSql(db: string, tables: string[]): string {
  return `SELECT count() AS merges FROM system.merges WHERE ${inTables(db, tables)}`;
}

/** Does the server's system.columns have a compression_codec column (ClickHouse ≥ 19.1)? */
export function codecColumnSql(): string {
  return "SELECT count() AS n FROM system.columns WHERE database = 'system' AND table = 'columns' AND name = 'compression_codec'";
}

/**
 * The cell tables' rows of system.tables, every column: the data directories are in
 * `data_paths` (an array) on newer servers and `data_path` on 18.x — whichever the row has.
 */
export function tableRowsSql(db: string, tables: string[]): string {
  return `SELECT * FROM system.tables WHERE database = ${literal(db)} AND name IN (${tables.map(literal).join(", ")}) ORDER BY name`;
}

export function tablesSql(db: string, tables: string[]): string {
  return `SELECT name, engine, create_table_query FROM system.tables WHERE database = ${literal(db)} AND name IN (${tables.map(literal).join(", ")}) ORDER BY name`;
}

/** Settings this connector uses or reports, looked up on connect (old servers reject unknown settings). */
export const PROBED_SETTINGS = ["insert_deduplicate", "mutations_sync", "async_insert", "optimize_throw_if_noop"] as const;

export function settingsSql(): string {
  return `SELECT name, value FROM system.settings WHERE name IN (${PROBED_SETTINGS.map(literal).join(", ")})`;
}

/** "18.16.1" → [18, 16, 1]; compares the leading numbers. */
export function versionAtLeast(version: string, major: number, minor: number): boolean {
  const [a = 0, b = 0] = version.split(".").map((x) => Number.parseInt(x, 10));
  return a > major || (a === major && b >= minor);
}
