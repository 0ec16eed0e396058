// Size readings and the snapshot of one cell's keys: Σ MEMORY USAGE (L1), the instance's
// used_memory_dataset and, when the server's dir is visible, its RDB/AOF files (L2).
import { join, resolve } from "node:path";
import { errorMessage } from "../../errors.js";
import { blockUsage } from "../../fs-blocks.js";
import type { SizeReading } from "../contract.js";
import { firstLine } from "../server-errors.js";
import type { RedisConnection } from "./redis-connection.js";
import { infoFields, pairsToObject, parseInfo } from "./redis-info.js";

/** Where the server keeps its persistence files, as far as this side can see them. */
export interface RedisFileOptions {
  dataDir?: string;
  rdbFile: string;
  aofDir: string;
}

export function persistenceFiles(o: RedisFileOptions): { rdb: string; aof: string } | null {
  if (!o.dataDir) return null;
  const dir = resolve(o.dataDir);
  return { rdb: join(dir, o.rdbFile), aof: join(dir, o.aofDir) };
}

/**
 * Σ MEMORY USAGE and Σ STRLEN over the cell's keys. Typed cells (`typedFields`: the schema's field
 * names) hold one hash per record: MEMORY USAGE … SAMPLES 0 (every field, not the default sample of
 * 5) and Σ HSTRLEN of every field instead of STRLEN.
 */
async function keyUsage(conn: RedisConnection, cellKeys: () => AsyncGenerator<string[]>, typedFields?: readonly string[]): Promise<{ keys: number; memory: number; strlen: number }> {
  const total = { keys: 0, memory: 0, strlen: 0 };
  const perKey = typedFields ? 1 + typedFields.length : 2;
  for await (const keys of cellKeys()) {
    const what = typedFields ? `MEMORY USAGE/HSTRLEN over ${keys.length} lab record hashes` : `MEMORY USAGE/STRLEN over ${keys.length} lab keys`;
    const replies = await conn.exec(what, (p) => {
      for (const k of keys) {
        if (typedFields) {
          p.memory("USAGE", k, "SAMPLES", 0);
          for (const f of typedFields) p.hstrlen(k, f);
        } else p.memory("USAGE", k).strlen(k);
      }
    });
    for (let i = 0; i < keys.length; i++) {
      const mem = replies[perKey * i];
      // A key deleted between SCAN and MEMORY USAGE replies nil: it no longer counts.
      if (mem === null) continue;
      total.keys++;
      total.memory += Number(mem);
      for (let j = 1; j < perKey; j++) total.strlen += Number(replies[perKey * i + j]);
    }
  }
  return total;
}

export async function readRedisSizes(conn: RedisConnection, cellKeys: () => AsyncGenerator<string[]>, o: RedisFileOptions, typedFields?: readonly string[]): Promise<SizeReading[]> {
  const usage = await keyUsage(conn, cellKeys, typedFields);
  let memory: Record<string, string>;
  try {
    memory = infoFields(await conn.redis.info("memory"));
  } catch (e) {
    throw conn.fail("INFO memory", e);
  }
  const instanceWide = "instance-wide: counts every key on the server, not only the lab prefix";
  const files = persistenceFiles(o);
  const readings: SizeReading[] = [
    { layer: "L1", metric: "memory_usage_sum", bytes: usage.memory, primary: true },
    typedFields ? { layer: "L1", metric: "hstrlen_sum", bytes: usage.strlen } : { layer: "L1", metric: "strlen_sum", bytes: usage.strlen },
    {
      layer: "L2",
      metric: "used_memory_dataset",
      bytes: memory.used_memory_dataset === undefined ? null : Number(memory.used_memory_dataset),
      primary: !files,
      reason: memory.used_memory_dataset === undefined ? "INFO memory has no used_memory_dataset" : instanceWide,
    },
  ];
  if (!files) {
    const reason = "dataDir not set: the server's RDB/AOF files are not visible from here";
    readings.push({ layer: "L2", metric: "rdb_aof_allocated_bytes", bytes: null, reason });
    return readings;
  }
  const rdb = await blockUsage([files.rdb]);
  const aof = await blockUsage([files.aof]);
  const seen = rdb.files + aof.files > 0;
  const missing = `no RDB/AOF files under ${o.dataDir} (check dataDir, rdbFile, aofDir)`;
  readings.push(
    { layer: "L2", metric: "rdb_aof_allocated_bytes", bytes: seen ? rdb.allocated + aof.allocated : null, primary: true, reason: seen ? instanceWide : missing },
    { layer: "L2", metric: "rdb_file_bytes", bytes: rdb.files ? rdb.apparent : null, reason: rdb.files ? instanceWide : `no ${o.rdbFile} yet (written by BGSAVE)` },
    { layer: "L2", metric: "aof_file_bytes", bytes: aof.files ? aof.apparent : null, reason: aof.files ? instanceWide : `no ${o.aofDir}/ (appendonly off?)` },
  );
  return readings;
}

/** How many of the cell's keys have each OBJECT ENCODING (typed cells: listpack or hashtable hashes). */
export async function encodingCounts(conn: RedisConnection, cellKeys: () => AsyncGenerator<string[]>): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for await (const keys of cellKeys()) {
    const replies = await conn.exec(`OBJECT ENCODING over ${keys.length} lab keys`, (p) => {
      for (const k of keys) p.object("ENCODING", k);
    });
    for (const r of replies) if (r !== null) counts[String(r)] = (counts[String(r)] ?? 0) + 1;
  }
  return counts;
}

/** What a typed cell adds to the snapshot: its schema's fields and the connector's own counts. */
export interface TypedSnapshot {
  fields: readonly string[];
  counters: Record<string, number | string>;
}

export async function readRedisSnapshot(conn: RedisConnection, cellKeys: () => AsyncGenerator<string[]>, typed?: TypedSnapshot): Promise<unknown> {
  let info: string;
  try {
    info = await conn.redis.info("everything");
  } catch (e) {
    throw conn.fail("INFO", e);
  }
  // MEMORY STATS needs `+memory|stats` in the lab user's ACL; without it the snapshot says so.
  const memoryStats = await conn.redis.memory("STATS").then(pairsToObject, (e: unknown) => ({ error: firstLine(errorMessage(e)) }));
  const lab_keys = await keyUsage(conn, cellKeys, typed?.fields);
  const sections = parseInfo(info);
  return {
    info: { server: sections.server, memory: sections.memory, persistence: sections.persistence, stats: sections.stats, keyspace: sections.keyspace },
    memory_stats: memoryStats,
    lab_keys,
    ...(typed ? { typed: { ...typed.counters, object_encodings: await encodingCounts(conn, cellKeys) } } : {}),
  };
}
