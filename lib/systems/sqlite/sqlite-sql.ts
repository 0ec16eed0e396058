// SQL text for the sqlite connector: one table per container, names from the lab namespace.

export function createTableSql(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (id TEXT PRIMARY KEY, size INTEGER NOT NULL, sha256 BLOB NOT NULL, payload BLOB NOT NULL)`;
}

export function insertSql(table: string): string {
  return `INSERT INTO ${table} (id, size, sha256, payload) VALUES (?, ?, ?, ?)`;
}

export function deleteSql(table: string): string {
  return `DELETE FROM ${table} WHERE id = ?`;
}

export function countSql(table: string): string {
  return `SELECT count(*) AS n FROM ${table}`;
}

/** The journal mode pragma of a variant: rollback → DELETE, wal → WAL. */
export function journalModePragma(variant: string): string {
  return `journal_mode = ${variant === "wal" ? "WAL" : "DELETE"}`;
}

export const VERSION_SQL = "SELECT sqlite_version() AS v";
