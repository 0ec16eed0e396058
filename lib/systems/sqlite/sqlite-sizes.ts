// Size readings and the snapshot of a cell's SQLite file: pages in use (L1) and the blocks
// the files occupy (L2).
import type Database from "better-sqlite3";
import { blockUsage } from "../../fs-blocks.js";
import type { SizeReading } from "../contract.js";
import { VERSION_SQL, countSql } from "./sqlite-sql.js";

function pragmaNumber(db: Database.Database, name: string): number {
  return Number(db.pragma(name, { simple: true }));
}

export async function readSqliteSizes(db: Database.Database, files: string[]): Promise<SizeReading[]> {
  const pageSize = pragmaNumber(db, "page_size");
  const pages = pragmaNumber(db, "page_count");
  const free = pragmaNumber(db, "freelist_count");
  const usage = await blockUsage(files);
  return [
    { layer: "L1", metric: "sqlite_used_page_bytes", bytes: (pages - free) * pageSize, primary: true },
    { layer: "L1", metric: "sqlite_page_bytes", bytes: pages * pageSize },
    { layer: "L2", metric: "allocated_bytes", bytes: usage.allocated, primary: true },
    { layer: "L2", metric: "file_bytes", bytes: usage.apparent },
  ];
}

export function readSqliteSnapshot(db: Database.Database, tables: string[]): unknown {
  const rows: Record<string, number> = {};
  for (const t of tables) rows[t] = Number((db.prepare(countSql(t)).get() as { n: number }).n);
  return {
    sqlite_version: (db.prepare(VERSION_SQL).get() as { v: string }).v,
    page_size: pragmaNumber(db, "page_size"),
    page_count: pragmaNumber(db, "page_count"),
    freelist_count: pragmaNumber(db, "freelist_count"),
    journal_mode: db.pragma("journal_mode", { simple: true }),
    rows,
  };
}
