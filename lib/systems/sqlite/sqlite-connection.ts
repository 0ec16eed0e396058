// "Connecting" to SQLite: one fresh database file per cell (leftovers of the same cell are
// removed first), opened through better-sqlite3 in the variant's journal mode.
import Database from "better-sqlite3";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { SystemError, errorMessage } from "../../errors.js";
import { journalModePragma } from "./sqlite-sql.js";

/** The database file of a cell and the files SQLite keeps beside it. */
export function sqliteFiles(path: string): string[] {
  return path ? [path, `${path}-wal`, `${path}-shm`, `${path}-journal`] : [];
}

export function sqlitePath(workDir: string, sqlName: string): string {
  return join(workDir, `${sqlName}.sqlite`);
}

export function removeSqliteFiles(path: string): void {
  for (const p of sqliteFiles(path)) rmSync(p, { force: true });
}

/** A fresh database at `path` in the variant's journal mode. */
export function openSqlite(path: string, variant: string): Database.Database {
  removeSqliteFiles(path);
  let db: Database.Database;
  try {
    db = new Database(path);
  } catch (e) {
    throw new SystemError("sqlite", path, errorMessage(e), { cause: e });
  }
  db.pragma(journalModePragma(variant));
  return db;
}
