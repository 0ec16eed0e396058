// SQL text for the MariaDB connector. Pure functions, unit-tested: every identifier that
// reaches the server is built here, always qualified with the lab database.
// Quoting is the shared MySQL-style one (../mysql-quoting.ts).
import { ident, qualified, quotedLiteral } from "../mysql-quoting.js";

export { ident, qualified };

/** Storage variants (capabilities.variants keys) → InnoDB table options. */
export const VARIANT_TABLE_OPTIONS = {
  default: "ENGINE=InnoDB",
  page_compressed: "ENGINE=InnoDB PAGE_COMPRESSED=1",
  row_compressed: "ENGINE=InnoDB ROW_FORMAT=COMPRESSED",
} as const;
export type MariadbVariant = keyof typeof VARIANT_TABLE_OPTIONS;

/** Placeholders per statement are capped at 65535; 4 columns per row. */
export const MAX_ROWS_PER_INSERT = 8192;

/** A string literal for the few statements that take names as values (information_schema filters). */
export function literal(value: string): string {
  return quotedLiteral(value, "''");
}

export function createDatabaseSql(db: string): string {
  return `CREATE DATABASE IF NOT EXISTS ${ident(db)}`;
}

export function dropDatabaseSql(db: string): string {
  return `DROP DATABASE IF EXISTS ${ident(db)}`;
}

export function createTableSql(db: string, table: string, variant: MariadbVariant): string {
  return (
    `CREATE TABLE ${qualified(db, table)} (` +
    "id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY, " +
    "size BIGINT UNSIGNED NOT NULL, " +
    "sha256 BINARY(32) NOT NULL, " +
    "payload LONGBLOB NOT NULL" +
    `) ${VARIANT_TABLE_OPTIONS[variant]}`
  );
}

/** The tables of the lab database (none when it does not exist). */
export function labTablesSql(db: string): string {
  return `SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${literal(db)} ORDER BY 1`;
}

export function dropTableSql(db: string, table: string): string {
  return `DROP TABLE IF EXISTS ${qualified(db, table)}`;
}

/** One multi-row INSERT with `rows` placeholder tuples (id, size, sha256, payload). */
export function insertSql(db: string, table: string, rows = 1): string {
  if (!Number.isInteger(rows) || rows < 1 || rows > MAX_ROWS_PER_INSERT) throw new Error(`bad row count ${rows}`);
  return `INSERT INTO ${qualified(db, table)} (id, size, sha256, payload) VALUES ` + Array(rows).fill("(?,?,?,?)").join(",");
}

export function deleteSql(db: string, table: string): string {
  return `DELETE FROM ${qualified(db, table)} WHERE id = ?`;
}

/** OPTIMIZE/ANALYZE over all tables of a cell in one statement. */
export function tableMaintenanceSql(kind: "OPTIMIZE" | "ANALYZE", db: string, tables: string[]): string {
  return `${kind} TABLE ${tables.map((t) => qualified(db, t)).join(", ")}`;
}

/** information_schema.TABLES statistics (refreshed by ANALYZE TABLE first). */
export function tableStatsSql(db: string, tables: string[]): string {
  return (
    "SELECT TABLE_NAME AS name, DATA_LENGTH AS data_length, INDEX_LENGTH AS index_length, DATA_FREE AS data_free, " +
    "TABLE_ROWS AS table_rows, ROW_FORMAT AS row_format, CREATE_OPTIONS AS create_options " +
    `FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${literal(db)} AND TABLE_NAME IN (${tables.map(literal).join(", ")})`
  );
}

/** InnoDB tablespace names are `db/table` for file-per-table tablespaces. */
export function tablespaceNames(db: string, tables: string[]): string[] {
  return tables.map((t) => `${db}/${t}`);
}

export function tablespacesSql(db: string, tables: string[]): string {
  return (
    "SELECT SPACE AS space, NAME AS name, ROW_FORMAT AS row_format, PAGE_SIZE AS page_size, FS_BLOCK_SIZE AS fs_block_size, " +
    "FILE_SIZE AS file_size, ALLOCATED_SIZE AS allocated_size " +
    `FROM information_schema.INNODB_SYS_TABLESPACES WHERE NAME IN (${tablespaceNames(db, tables).map(literal).join(", ")})`
  );
}

/** Pages of the given tablespaces still dirty in the buffer pool (not yet written to the .ibd files). */
export function dirtyPagesSql(spaces: number[]): string {
  if (!spaces.every((s) => Number.isInteger(s) && s >= 0)) throw new Error(`bad tablespace ids ${spaces.join(",")}`);
  return `SELECT COUNT(*) AS dirty FROM information_schema.INNODB_BUFFER_PAGE WHERE SPACE IN (${spaces.join(", ")}) AND OLDEST_MODIFICATION > 0`;
}

/** SHOW TABLE STATUS restricted to one cell's tables (LIKE with `_` escaped). */
export function tableStatusSql(db: string, tablePrefix: string): string {
  return `SHOW TABLE STATUS FROM ${ident(db)} LIKE ${literal(tablePrefix.replace(/_/g, "\\_") + "%")}`;
}

/** Global status counters worth keeping per snapshot (names verified on MariaDB 10.11). */
export const STATUS_COUNTERS = [
  "Innodb_page_compression_saved",
  "Innodb_num_pages_page_compressed",
  "Innodb_num_page_compressed_trim_op",
  "Innodb_num_pages_page_decompressed",
  "Innodb_num_pages_page_compression_error",
  "Innodb_buffer_pool_pages_dirty",
  "Innodb_pages_written",
  "Innodb_data_written",
  "Innodb_os_log_written",
  "Innodb_rows_inserted",
  "Innodb_rows_deleted",
  "Innodb_history_list_length",
];

export const SERVER_VARIABLES = [
  "version",
  "innodb_page_size",
  "innodb_file_per_table",
  "innodb_compression_algorithm",
  "innodb_compression_level",
  "innodb_default_row_format",
  "innodb_flush_log_at_trx_commit",
  "innodb_max_dirty_pages_pct_lwm",
  "innodb_buffer_pool_size",
  "max_allowed_packet",
];

export function globalStatusSql(names: string[]): string {
  return `SHOW GLOBAL STATUS WHERE Variable_name IN (${names.map(literal).join(", ")})`;
}

export function globalVariablesSql(names: string[]): string {
  return `SHOW GLOBAL VARIABLES WHERE Variable_name IN (${names.map(literal).join(", ")})`;
}
