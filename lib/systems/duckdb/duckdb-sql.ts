// SQL text for the duckdb connector: one table per container, names from the lab namespace.

export function createTableSql(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (id VARCHAR PRIMARY KEY, size UBIGINT NOT NULL, sha256 BLOB NOT NULL, payload BLOB NOT NULL)`;
}

export function insertSql(table: string): string {
  return `INSERT INTO ${table} VALUES ($1, $2, $3, $4)`;
}

export function deleteSql(table: string): string {
  return `DELETE FROM ${table} WHERE id = $1`;
}

export const DATABASE_SIZE_SQL = "PRAGMA database_size";
export const VERSION_SQL = "SELECT version() AS v";

/** Compression chosen per column and segment of one table. */
export function storageInfoSql(table: string): string {
  return `SELECT column_name, compression, count(*) AS segments, sum(count) AS values FROM pragma_storage_info('${table}') GROUP BY ALL ORDER BY ALL`;
}
