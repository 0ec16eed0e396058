// Redis through ioredis: one string key per unit, `<prefix>:<cell>:c<container>:<unit id>`.
// Every key comes from LabNamespace.key and every SCAN carries the lab MATCH pattern: an
// ACL `~dedup:*` stops writes elsewhere, but SCAN without MATCH and DBSIZE still see (and
// count) other users' keys. Every reply is checked; a reply error fails the operation.
// The contract only: connecting, SCAN and pipelines in redis-connection.ts, INFO parsing in
// redis-info.ts, sizes and snapshot in redis-sizes.ts, options and definition in redis-options.ts.
import { setTimeout as sleep } from "node:timers/promises";
import type { LabNamespace } from "../namespace.js";
import { OK, type Capabilities, type CellContext, type LabSystem, type OpStatus, type SizeReading, type Unit, type UnitRef } from "../contract.js";
import { RedisConnection } from "./redis-connection.js";
import { escapeGlob, infoFields, persistenceBusy, persistenceCounter, persistenceState, persistenceStatusField, type PersistenceKind } from "./redis-info.js";
import type { RedisOptions } from "./redis-options.js";
import { persistenceFiles, readRedisSizes, readRedisSnapshot } from "./redis-sizes.js";

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

export class RedisSystem implements LabSystem {
  readonly name = "redis";
  private readonly conn: RedisConnection;
  private cell?: CellContext;

  constructor(
    private readonly lab: LabNamespace,
    private readonly options: RedisOptions,
    readonly capabilities: Capabilities,
  ) {
    this.conn = new RedisConnection(options);
  }

  private get redis() {
    return this.conn.redis;
  }

  async connect(): Promise<void> {
    await this.conn.connect();
  }

  async close(): Promise<void> {
    await this.conn.close();
  }

  private key(u: UnitRef): string {
    return this.lab.key(this.cell!.cellKey, `c${u.container}`, u.id);
  }

  /**
   * MATCH pattern for this cell's keys, the keys of a scope (a cell key or a run token: every
   * key `<prefix>:<cell key>:…` of that run), or the whole lab namespace.
   */
  private pattern(scope: "cell" | "lab" | { prefix: string }): string {
    if (scope === "cell") return this.lab.key(escapeGlob(this.cell!.cellKey), "*");
    return escapeGlob(this.lab.keyPrefix) + (scope === "lab" ? "" : escapeGlob(scope.prefix)) + "*";
  }

  /** SCAN pages of keys matching the lab pattern. Never an unfiltered SCAN. */
  private scan(scope: "cell" | "lab" | { prefix: string }): AsyncGenerator<string[]> {
    // Defence in depth: the MATCH pattern already restricts, the namespace check makes it explicit.
    return this.conn.scan(this.pattern(scope), (k) => this.lab.isLabKey(k));
  }

  private async deleteMatching(scope: "cell" | "lab" | { prefix: string }): Promise<void> {
    const unlink = this.cell?.variant === "unlink";
    for await (const keys of this.scan(scope)) {
      await this.conn.exec(`${unlink ? "UNLINK" : "DEL"} ${keys.length} lab keys`, (p) => (unlink ? p.unlink(...keys) : p.del(...keys)));
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
      throw this.conn.fail(`MSET ${units.length} keys`, e);
    }
    if (reply !== "OK") throw this.conn.error(`MSET ${units.length} keys replied ${reply}`);
  }

  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<OpStatus> {
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
    return OK;
  }

  async insert(u: Unit): Promise<OpStatus> {
    let reply: string;
    try {
      reply = await this.redis.set(this.key(u), u.payload);
    } catch (e) {
      throw this.conn.fail(`SET ${this.key(u)}`, e);
    }
    if (reply !== "OK") throw this.conn.error(`SET ${this.key(u)} replied ${reply}`);
    return OK;
  }

  async delete(u: UnitRef): Promise<OpStatus> {
    const key = this.key(u);
    const cmd = this.cell!.variant === "unlink" ? "UNLINK" : "DEL";
    let removed: number;
    try {
      removed = cmd === "UNLINK" ? await this.redis.unlink(key) : await this.redis.del(key);
    } catch (e) {
      throw this.conn.fail(`${cmd} ${key}`, e);
    }
    if (removed !== 1) throw this.conn.error(`${cmd} ${key} removed ${removed} keys (expected 1)`);
    return OK;
  }

  private async persistenceInfo(): Promise<Record<string, string>> {
    try {
      return infoFields(await this.redis.info("persistence"));
    } catch (e) {
      throw this.conn.fail("INFO persistence", e);
    }
  }

  /** Wait until `done(info)` holds, polling INFO persistence. */
  private async pollPersistence(what: string, done: (p: Record<string, string>) => boolean): Promise<Record<string, string>> {
    const deadline = Date.now() + MAINTENANCE_TIMEOUT_MS;
    for (;;) {
      const p = await this.persistenceInfo();
      if (done(p)) return p;
      if (Date.now() > deadline) throw this.conn.error(`${what} did not finish within ${MAINTENANCE_TIMEOUT_MS / 60_000} min`);
      await sleep(POLL_MS);
    }
  }

  /** Before an "after" reading: no BGSAVE or AOF rewrite in flight, so the RDB/AOF files are what they will stay. */
  async settle(): Promise<OpStatus> {
    await this.pollPersistence("waiting for persistence to finish before reading sizes", (p) => !persistenceBusy(p));
    return OK;
  }

  async maintenance(name: string): Promise<OpStatus> {
    if (name !== "bgsave" && name !== "bgrewriteaof") {
      throw this.conn.error(`unknown maintenance "${name}" — use one of: ${Object.keys(this.capabilities.maintenance).join(", ")}`);
    }
    const kind: PersistenceKind = name;
    const label = kind.toUpperCase();
    // Redis runs one fork at a time; let a running job (ours or the server's own) finish first.
    const idle = await this.pollPersistence(`waiting for running persistence before ${label}`, (p) => !persistenceBusy(p));
    const before = persistenceCounter(kind, idle);
    if (before === null) {
      throw this.conn.error(`${label} cannot be awaited: INFO persistence lacks its completion counter (needs Redis ≥ 7.0)`);
    }
    try {
      if (kind === "bgsave") await this.redis.bgsave();
      else await this.redis.bgrewriteaof();
    } catch (e) {
      throw this.conn.fail(label, e);
    }
    const end = await this.pollPersistence(label, (p) => persistenceState(kind, p, before) !== "running");
    if (persistenceState(kind, end, before) === "failed") {
      throw this.conn.error(`${label} failed (${persistenceStatusField(kind)}:${end[persistenceStatusField(kind)]}; see the server log)`);
    }
    return OK;
  }

  async reset(): Promise<void> {
    await this.deleteMatching("cell");
  }

  async sizes(): Promise<SizeReading[]> {
    return readRedisSizes(this.conn, () => this.scan("cell"), this.options);
  }

  async snapshot(): Promise<unknown> {
    return readRedisSnapshot(this.conn, () => this.scan("cell"));
  }

  async cleanup(scope?: string): Promise<void> {
    await this.deleteMatching(scope ? { prefix: scope } : "lab");
  }

  storagePaths(): string[] {
    const f = persistenceFiles(this.options);
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
