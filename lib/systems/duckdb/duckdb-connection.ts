// "Connecting" to DuckDB: one fresh database file per cell (leftovers of the same cell are
// removed first), opened through @duckdb/node-api with one thread.
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { SystemError, errorMessage } from "../../errors.js";

/** The database file of a cell and its WAL. */
export function duckdbFiles(path: string): string[] {
  return path ? [path, `${path}.wal`] : [];
}

export function duckdbPath(workDir: string, sqlName: string): string {
  return join(workDir, `${sqlName}.duckdb`);
}

export function removeDuckdbFiles(path: string): void {
  for (const p of duckdbFiles(path)) rmSync(p, { force: true });
}

export interface DuckdbHandle {
  instance: DuckDBInstance;
  conn: DuckDBConnection;
}

/** A fresh database at `path`. */
export async function openDuckdb(path: string): Promise<DuckdbHandle> {
  removeDuckdbFiles(path);
  try {
    const instance = await DuckDBInstance.create(path, { threads: "1" });
    return { instance, conn: await instance.connect() };
  } catch (e) {
    throw new SystemError("duckdb", path, errorMessage(e), { cause: e });
  }
}

export function closeDuckdb(h: Partial<DuckdbHandle>): void {
  h.conn?.closeSync();
  h.instance?.closeSync();
}
