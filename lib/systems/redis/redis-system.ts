// Redis through ioredis: one string key per unit, `<prefix>:<cell>:c<container>:<unit id>`.
// Every key comes from LabNamespace.key and every SCAN carries the lab MATCH pattern: an
// ACL `~dedup:*` stops writes elsewhere, but SCAN without MATCH and DBSIZE still see (and
// count) other users' keys. Every reply is checked; a reply error fails the operation.
import { Redis } from "ioredis";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { SystemError, errorMessage } from "../../errors.js";
import { blockUsage } from "../../fs-blocks.js";
import type { LabNamespace } from "../namespace.js";
import type { CellContext, LabSystem, SizeReading, SystemDefinition, Unit, UnitRef } from "../contract.js";
import {
  escapeGlob,
  infoFields,
  pairsToObject,
  parseInfo,
  persistenceBusy,
  persistenceCounter,
  persistenceState,
  persistenceStatusField,
  type PersistenceKind,
} from "./redis-info.js";

const options = z
  .object({
    host: z.string().default("127.0.0.1"),
    port: z.coerce.number().int().min(1).max(65535).default(6379),
    /** ACL user; omit for the `default` user. */
    user: z.string().optional(),
    /** Name of the environment variable holding the password (never the password). */
    passwordEnv: z.string().optional(),
    /** The server's `dir`, when it is visible from here: RDB/AOF file sizes become the L2 primary. */
    dataDir: z.string().optional(),
    /** `dbfilename` and `appenddirname` of the server (Redis defaults). */
    rdbFile: z.string().default("dump.rdb"),
    aofDir: z.string().default("appendonlydir"),
  })
  .strict();
type Options = z.infer<typeof options>;

const capabilities = {
  variants: {
    del: "per-unit delete with DEL (memory freed synchronously)",
    unlink: "per-unit delete with UNLINK (memory freed by a background thread)",
  },
  maintenance: {
    bgrewriteaof: "BGREWRITEAOF: rewrite the append-only file from the live dataset, awaited to completion",
    bgsave: "BGSAVE: write an RDB snapshot, awaited to completion",
  },
  layers: ["L1", "L2"],
  stages: ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"],
  embedded: false,
} satisfies SystemDefinition["capabilities"];

/** Keys per SCAN page and per sizing pipeline. */
const SCAN_COUNT = 1000;
/**
 * Bulk insert sends one MSET per MSET_BYTES of payload and keeps BULK_WINDOW of them in flight
 * on the connection (pipelined), so replies of one are read while the next is sent. One SET per
 * key in 4 MiB pipelines ran at about half of redis-cli --pipe; MSET parts at or above it
 * (bench/redis-bulk.ts).
 */
const MSET_BYTES = 512 * 1024;
const BULK_WINDOW = 16;
const MAINTENANCE_TIMEOUT_MS = 30 * 60_000;
const POLL_MS = 50;

const endpointOf = (o: Options): string => `${o.host}:${o.port}`;

class RedisSystem implements LabSystem {
  readonly name = "redis";
  readonly capabilities = capabilities;
  private client?: Redis;
  private cell?: CellContext;
  private readonly endpoint: string;
  private lastConnectionError?: string;

  constructor(
    private readonly lab: LabNamespace,
    private readonly options: Options,
  ) {
    this.endpoint = endpointOf(options);
  }

  private fail(what: string, e: unknown): SystemError {
    const msg = firstLine(errorMessage(e));
    // ioredis reports a dead server as "Reached the max retries per request limit …" or
    // "Connection is closed."; say what happened, with the socket error behind it.
    if (/max retries per request|Connection is closed/i.test(msg)) {
      const last = this.lastConnectionError ? ` (${this.lastConnectionError})` : "";
      return new SystemError("redis", this.endpoint, `${what}: connection lost${last} — is the server running?`);
    }
    return new SystemError("redis", this.endpoint, `${what}: ${msg}`);
  }

  private get redis(): Redis {
    if (!this.client) throw new SystemError("redis", this.endpoint, "not connected (call connect first)");
    return this.client;
  }

  async connect(): Promise<void> {
    if (this.client) return;
    const o = this.options;
    let password: string | undefined;
    if (o.passwordEnv) {
      password = process.env[o.passwordEnv];
      if (password === undefined) {
        throw new SystemError("redis", this.endpoint, `environment variable ${o.passwordEnv} is not set — export it (local services: .services/env)`);
      }
    }
    let connected = false;
    let lastError: Error | undefined;
    const client = new Redis({
      host: o.host,
      port: o.port,
      username: o.user,
      password,
      lazyConnect: true,
      connectTimeout: 5000,
      // Fail fast on the first connect; afterwards reconnect forever with capped backoff, while each
      // command gives up after a few reconnect attempts so a dead server fails the cell, not the run.
      retryStrategy: (times) => (connected ? Math.min(100 * 2 ** Math.min(times, 5), 2000) : null),
      maxRetriesPerRequest: 5,
    });
    client.on("error", (e: Error) => {
      lastError = e;
      this.lastConnectionError = firstLine(errorMessage(e));
    });
    try {
      await client.connect();
      const pong = await client.ping();
      if (pong !== "PONG") throw new Error(`PING replied ${pong}`);
    } catch (e) {
      client.disconnect();
      const cause = lastError ?? e;
      const hint = /WRONGPASS|NOAUTH/.test(errorMessage(cause)) ? ` — check user and ${o.passwordEnv ?? "passwordEnv"}` : "";
      throw new SystemError("redis", this.endpoint, `connect failed: ${firstLine(errorMessage(cause))}${hint}`);
    }
    connected = true;
    this.client = client;
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (!c) return;
    if (c.status === "ready") await c.quit().catch(() => c.disconnect());
    else c.disconnect();
  }

  private key(u: UnitRef): string {
    return this.lab.key(this.cell!.cellKey, `c${u.container}`, u.id);
  }

  /** MATCH pattern for this cell's keys (or the whole lab namespace). */
  private pattern(scope: "cell" | "lab"): string {
    return scope === "cell" ? this.lab.key(escapeGlob(this.cell!.cellKey), "*") : escapeGlob(this.lab.keyPrefix) + "*";
  }

  /** SCAN pages of keys matching the lab pattern. Never an unfiltered SCAN. */
  private async *scan(scope: "cell" | "lab"): AsyncGenerator<string[]> {
    const match = this.pattern(scope);
    let cursor = "0";
    do {
      let page: [string, string[]];
      try {
        page = await this.redis.scan(cursor, "MATCH", match, "COUNT", SCAN_COUNT);
      } catch (e) {
        throw this.fail(`SCAN MATCH ${match}`, e);
      }
      cursor = page[0];
      // Defence in depth: the MATCH pattern already restricts, the namespace check makes it explicit.
      const keys = page[1].filter((k) => this.lab.isLabKey(k));
      if (keys.length) yield keys;
    } while (cursor !== "0");
  }

  /** Run a pipeline and return its replies; any reply error fails the whole call. */
  private async exec(what: string, build: (p: ReturnType<Redis["pipeline"]>) => void): Promise<unknown[]> {
    const p = this.redis.pipeline();
    build(p);
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await p.exec();
    } catch (e) {
      throw this.fail(what, e);
    }
    if (!replies) throw new SystemError("redis", this.endpoint, `${what}: pipeline aborted (connection lost)`);
    const bad = replies.find(([err]) => err);
    if (bad) throw this.fail(what, bad[0]);
    return replies.map(([, r]) => r);
  }

  private async deleteMatching(scope: "cell" | "lab"): Promise<void> {
    const unlink = this.cell?.variant === "unlink";
    for await (const keys of this.scan(scope)) {
      await this.exec(`${unlink ? "UNLINK" : "DEL"} ${keys.length} lab keys`, (p) => (unlink ? p.unlink(...keys) : p.del(...keys)));
    }
  }

  async prepare(cell: CellContext): Promise<void> {
    this.cell = cell;
    await this.deleteMatching("cell");
  }

  /** One MSET per part: one command and one reply for many keys, checked like any reply. */
  private async msetPart(units: Unit[]): Promise<void> {
    const args: (string | Buffer)[] = [];
    for (const u of units) args.push(this.key(u), u.payload);
    let reply: string;
    try {
      reply = await this.redis.mset(...args);
    } catch (e) {
      throw this.fail(`MSET ${units.length} keys`, e);
    }
    if (reply !== "OK") throw new SystemError("redis", this.endpoint, `MSET ${units.length} keys replied ${reply}`);
  }

  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<void> {
    const inflight: Promise<void>[] = [];
    let failure: unknown;
    const track = (p: Promise<void>): Promise<void> => p.catch((e) => void (failure ??= e));
    try {
      for await (const batch of batches) {
        for (const part of splitByBytes(batch, MSET_BYTES)) {
          if (failure) break;
          inflight.push(track(this.msetPart(part)));
          if (inflight.length >= BULK_WINDOW) await inflight.shift();
        }
        if (failure) break;
      }
    } finally {
      await Promise.all(inflight);
    }
    if (failure) throw failure;
  }

  async insert(u: Unit): Promise<void> {
    let reply: string;
    try {
      reply = await this.redis.set(this.key(u), u.payload);
    } catch (e) {
      throw this.fail(`SET ${this.key(u)}`, e);
    }
    if (reply !== "OK") throw new SystemError("redis", this.endpoint, `SET ${this.key(u)} replied ${reply}`);
  }

  async delete(u: UnitRef): Promise<void> {
    const key = this.key(u);
    const cmd = this.cell!.variant === "unlink" ? "UNLINK" : "DEL";
    let removed: number;
    try {
      removed = cmd === "UNLINK" ? await this.redis.unlink(key) : await this.redis.del(key);
    } catch (e) {
      throw this.fail(`${cmd} ${key}`, e);
    }
    if (removed !== 1) throw new SystemError("redis", this.endpoint, `${cmd} ${key} removed ${removed} keys (expected 1)`);
  }

  private async persistenceInfo(): Promise<Record<string, string>> {
    try {
      return infoFields(await this.redis.info("persistence"));
    } catch (e) {
      throw this.fail("INFO persistence", e);
    }
  }

  /** Wait until `done(info)` holds, polling INFO persistence. */
  private async pollPersistence(what: string, done: (p: Record<string, string>) => boolean): Promise<Record<string, string>> {
    const deadline = Date.now() + MAINTENANCE_TIMEOUT_MS;
    for (;;) {
      const p = await this.persistenceInfo();
      if (done(p)) return p;
      if (Date.now() > deadline) throw new SystemError("redis", this.endpoint, `${what} did not finish within ${MAINTENANCE_TIMEOUT_MS / 60_000} min`);
      await sleep(POLL_MS);
    }
  }

  async maintenance(name: string): Promise<void> {
    if (name !== "bgsave" && name !== "bgrewriteaof") {
      throw new SystemError("redis", this.endpoint, `unknown maintenance "${name}" — use one of: ${Object.keys(capabilities.maintenance).join(", ")}`);
    }
    const kind: PersistenceKind = name;
    const label = kind.toUpperCase();
    // Redis runs one fork at a time; let a running job (ours or the server's own) finish first.
    const idle = await this.pollPersistence(`waiting for running persistence before ${label}`, (p) => !persistenceBusy(p));
    const before = persistenceCounter(kind, idle);
    if (before === null) {
      throw new SystemError("redis", this.endpoint, `${label} cannot be awaited: INFO persistence lacks its completion counter (needs Redis ≥ 7.0)`);
    }
    try {
      if (kind === "bgsave") await this.redis.bgsave();
      else await this.redis.bgrewriteaof();
    } catch (e) {
      throw this.fail(label, e);
    }
    const end = await this.pollPersistence(label, (p) => persistenceState(kind, p, before) !== "running");
    if (persistenceState(kind, end, before) === "failed") {
      throw new SystemError("redis", this.endpoint, `${label} failed (${persistenceStatusField(kind)}:${end[persistenceStatusField(kind)]}; see the server log)`);
    }
  }

  async reset(): Promise<void> {
    await this.deleteMatching("cell");
  }

  /** Σ MEMORY USAGE and Σ STRLEN over the cell's keys. */
  private async keyUsage(): Promise<{ keys: number; memory: number; strlen: number }> {
    const total = { keys: 0, memory: 0, strlen: 0 };
    for await (const keys of this.scan("cell")) {
      const replies = await this.exec(`MEMORY USAGE/STRLEN over ${keys.length} lab keys`, (p) => {
        for (const k of keys) p.memory("USAGE", k).strlen(k);
      });
      for (let i = 0; i < keys.length; i++) {
        const mem = replies[2 * i];
        // A key deleted between SCAN and MEMORY USAGE replies nil: it no longer counts.
        if (mem === null) continue;
        total.keys++;
        total.memory += Number(mem);
        total.strlen += Number(replies[2 * i + 1]);
      }
    }
    return total;
  }

  private persistenceFiles(): { rdb: string; aof: string } | null {
    if (!this.options.dataDir) return null;
    const dir = resolve(this.options.dataDir);
    return { rdb: join(dir, this.options.rdbFile), aof: join(dir, this.options.aofDir) };
  }

  async sizes(): Promise<SizeReading[]> {
    const usage = await this.keyUsage();
    let memory: Record<string, string>;
    try {
      memory = infoFields(await this.redis.info("memory"));
    } catch (e) {
      throw this.fail("INFO memory", e);
    }
    const instanceWide = "instance-wide: counts every key on the server, not only the lab prefix";
    const files = this.persistenceFiles();
    const readings: SizeReading[] = [
      { layer: "L1", metric: "memory_usage_sum", bytes: usage.memory, primary: true },
      { layer: "L1", metric: "strlen_sum", bytes: usage.strlen },
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
    const missing = `no RDB/AOF files under ${this.options.dataDir} (check dataDir, rdbFile, aofDir)`;
    readings.push(
      { layer: "L2", metric: "rdb_aof_allocated_bytes", bytes: seen ? rdb.allocated + aof.allocated : null, primary: true, reason: seen ? instanceWide : missing },
      { layer: "L2", metric: "rdb_file_bytes", bytes: rdb.files ? rdb.apparent : null, reason: rdb.files ? instanceWide : `no ${this.options.rdbFile} yet (written by BGSAVE)` },
      { layer: "L2", metric: "aof_file_bytes", bytes: aof.files ? aof.apparent : null, reason: aof.files ? instanceWide : `no ${this.options.aofDir}/ (appendonly off?)` },
    );
    return readings;
  }

  async snapshot(): Promise<unknown> {
    let info: string;
    try {
      info = await this.redis.info("everything");
    } catch (e) {
      throw this.fail("INFO", e);
    }
    // MEMORY STATS needs `+memory|stats` in the lab user's ACL; without it the snapshot says so.
    const memoryStats = await this.redis.memory("STATS").then(pairsToObject, (e: unknown) => ({ error: firstLine(errorMessage(e)) }));
    const lab_keys = await this.keyUsage();
    const sections = parseInfo(info);
    return {
      info: { server: sections.server, memory: sections.memory, persistence: sections.persistence, stats: sections.stats, keyspace: sections.keyspace },
      memory_stats: memoryStats,
      lab_keys,
    };
  }

  async cleanup(): Promise<void> {
    await this.deleteMatching("lab");
  }

  storagePaths(): string[] {
    const f = this.persistenceFiles();
    return f ? [f.rdb, f.aof] : [];
  }
}

/** Consecutive runs of units of at most maxBytes payload (at least one unit each). */
function* splitByBytes(units: Unit[], maxBytes: number): Generator<Unit[]> {
  let part: Unit[] = [];
  let bytes = 0;
  for (const u of units) {
    if (part.length && bytes + u.payload.length > maxBytes) {
      yield part;
      part = [];
      bytes = 0;
    }
    part.push(u);
    bytes += u.payload.length;
  }
  if (part.length) yield part;
}

function firstLine(s: string): string {
  return s.split("\n")[0]!.trim();
}

export const redisDefinition: SystemDefinition<Options> = {
  name: "redis",
  description: "Redis (ioredis): one string key per unit under the lab key prefix; bulk as pipelined MSET parts",
  capabilities,
  options,
  endpoint: endpointOf,
  create: (o, lab) => new RedisSystem(lab, o),
};
