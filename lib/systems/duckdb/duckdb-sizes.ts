// Size readings and the snapshot of a cell's DuckDB file: blocks in use (L1) and the blocks
// the files occupy (L2).
import type { DuckDBConnection } from "@duckdb/node-api";
import { blockUsage } from "../../fs-blocks.js";
import type { SizeReading } from "../contract.js";
import { DATABASE_SIZE_SQL, VERSION_SQL, storageInfoSql } from "./duckdb-sql.js";

interface DatabaseSize {
  block_size: bigint;
  total_blocks: bigint;
  used_blocks: bigint;
  free_blocks: bigint;
  wal_size: string;
}

async function databaseSize(conn: DuckDBConnection): Promise<DatabaseSize> {
  const r = await conn.runAndReadAll(DATABASE_SIZE_SQL);
  return r.getRowObjects()[0] as unknown as DatabaseSize;
}

export async function readDuckdbSizes(conn: DuckDBConnection, files: string[]): Promise<SizeReading[]> {
  const s = await databaseSize(conn);
  const usage = await blockUsage(files);
  return [
    {
      layer: "L1", metric: "duckdb_used_block_bytes", bytes: Number(s.used_blocks * s.block_size), primary: true,
      // Rows written since the last checkpoint live in the WAL, which the block count does not include.
      reason: /^0(\.0+)? ?bytes$/i.test(String(s.wal_size).trim()) ? undefined : `checkpointed blocks only; ${s.wal_size} still in the WAL`,
    },
    { layer: "L1", metric: "duckdb_total_block_bytes", bytes: Number(s.total_blocks * s.block_size) },
    { layer: "L2", metric: "allocated_bytes", bytes: usage.allocated, primary: true },
    { layer: "L2", metric: "file_bytes", bytes: usage.apparent },
  ];
}

export async function readDuckdbSnapshot(conn: DuckDBConnection, firstTable: string): Promise<unknown> {
  const s = await databaseSize(conn);
  const version = (await conn.runAndReadAll(VERSION_SQL)).getRowObjects()[0]!.v;
  const storage = await conn.runAndReadAll(storageInfoSql(firstTable));
  return JSON.parse(JSON.stringify({ version, database_size: s, storage_info: storage.getRowObjects() }, (_k, v) => (typeof v === "bigint" ? Number(v) : v)));
}
