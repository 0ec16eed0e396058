// Redis through ioredis: one string key per unit, `<prefix>:<cell>:c<container>:<unit id>`;
// typed cells (issue 14) one hash per record, `<prefix>:<cell>:<unit id or natural key>`, one field
// per schema field (encoding in redis-typed.ts).
// Every key comes from LabNamespace.key and every SCAN carries the lab MATCH pattern: an
// ACL `~dedup:*` stops writes elsewhere, but SCAN without MATCH and DBSIZE still see (and
// count) other users' keys. Every reply is checked; a reply error fails the operation.
// The contract only: connecting, SCAN and pipelines in redis-connection.ts, INFO parsing in
// redis-info.ts, sizes and snapshot in redis-sizes.ts, options and definition in redis-options.ts.
import { setTimeout as sleep } from "node:timers/promises";
import type { LabNamespace } from "../namespace.js";
import { decodeRecord } from "../../generators/records.js";
import { OK, recordOf, type Capabilities, type CellContext, type LabSystem, type OpStatus, type RecordValues, type SizeReading, type TypedCell, type Unit, type UnitRef } from "../contract.js";
import { RedisConnection } from "./redis-connection.js";
import { escapeGlob, infoFields, persistenceBusy, persistenceCounter, persistenceState, persistenceStatusField, type PersistenceKind } from "./redis-info.js";
import type { RedisOptions } from "./redis-options.js";
import { persistenceFiles, readRedisSizes, readRedisSnapshot } from "./redis-sizes.js";
import { hashArgs, recordFromHash, recordKeyPart } from "./redis-typed.js";

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
  /** Typed cells: the connector's own counts from HSET replies. */
  private counts = { records_written: 0, replaced: 0 };

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

  /**
   * SCAN pages of the cell's keys without repeats (SCAN may return a key twice while the server
   * rehashes its table): what typed cells count, size and read. Memory: one string per key.
   */
  private async *distinctCellKeys(): AsyncGenerator<string[]> {
    const seen = new Set<string>();
    for await (const keys of this.scan("cell")) {
      const fresh = keys.filter((k) => !seen.has(k));
      for (const k of fresh) seen.add(k);
      if (fresh.length) yield fresh;
    }
  }

  /** The cell's keys as sizes and snapshot read them: typed cells without SCAN's repeats, blob cells as before. */
  private cellKeys(): AsyncGenerator<string[]> {
    return this.typed ? this.distinctCellKeys() : this.scan("cell");
  }

  private async deleteMatching(scope: "cell" | "lab" | { prefix: string }): Promise<void> {
    const unlink = this.cell?.variant === "unlink";
    for await (const keys of this.scan(scope)) {
      await this.conn.exec(`${unlink ? "UNLINK" : "DEL"} ${keys.length} lab keys`, (p) => (unlink ? p.unlink(...keys) : p.del(...keys)));
    }
  }

  async prepare(cell: CellContext): Promise<void> {
    this.cell = cell;
    this.forgetRecords();
    await this.deleteMatching("cell");
  }

  private forgetRecords(): void {
    this.counts = { records_written: 0, replaced: 0 };
  }

  private get typed(): TypedCell | undefined {
    return this.cell?.typed;
  }

  /**
   * A natural key meets an earlier record's hash: HSET alone would leave a field the new record has
   * null (absent) from the old one, so where the schema has nullable fields the old hash is deleted
   * first (DEL, then HSET, pipelined); otherwise HSET overwrites every field.
   */
  private get replaceByDelete(): boolean {
    const t = this.typed!;
    return t.keys === "natural" && t.schema.fields.some((f) => f.nullable);
  }

  /** The key a typed unit's record is stored under: its unit id (surrogate) or its natural key. */
  private recordKey(u: UnitRef, values: RecordValues): string {
    const t = this.typed!;
    return this.lab.key(this.cell!.cellKey, recordKeyPart(t.keys, t.schema, u.id, values, u.sha256));
  }

  /** The record's key and HSET arguments. */
  private hashOf(u: Unit): { key: string; args: (string | Buffer)[] } {
    const values = decodeRecord(this.typed!.schema, u.payload);
    return { key: this.recordKey(u, values), args: hashArgs(this.typed!.schema, values) };
  }

  /**
   * Queue one record's commands on a pipeline (DEL first where replaceByDelete). The returned
   * function checks its replies: a fresh key gets every field (HSET's reply = field count), a
   * replaced one is counted; anything else (a leftover or a half-written hash) fails the operation.
   */
  private queueRecord(p: { del(k: string): unknown; hset(k: string, ...a: (string | Buffer)[]): unknown }, u: Unit): (replies: unknown[], at: number) => number {
    const { key, args } = this.hashOf(u);
    const byDelete = this.replaceByDelete;
    if (byDelete) p.del(key);
    p.hset(key, ...args);
    const fields = args.length / 2;
    return (replies, at) => {
      const added = Number(replies[at + (byDelete ? 1 : 0)]);
      const existed = byDelete ? Number(replies[at]) === 1 : added === 0;
      if (existed && this.typed!.keys === "surrogate") throw this.conn.error(`HSET ${key}: the key already existed (surrogate keys are unique)`);
      if (!existed && added !== fields) throw this.conn.error(`HSET ${key} added ${added} of ${fields} fields (a partial hash was there)`);
      this.counts.records_written++;
      if (existed) this.counts.replaced++;
      return byDelete ? 2 : 1;
    };
  }

  /** One pipeline of HSETs (DEL+HSET for replaceByDelete) for a part of a typed bulk insert. */
  private async hsetPart(units: Unit[]): Promise<void> {
    const checks: ((replies: unknown[], at: number) => number)[] = [];
    const replies = await this.conn.exec(`HSET ${units.length} records`, (p) => {
      for (const u of units) checks.push(this.queueRecord(p, u));
    });
    let at = 0;
    for (const check of checks) at += check(replies, at);
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
          inflight.push(track(this.typed ? this.hsetPart(part) : this.msetPart(part)));
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
    if (this.typed) {
      await this.hsetPart([u]);
      return OK;
    }
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
    const record = this.typed?.keys === "natural" ? recordOf(u, (m) => this.conn.error(m)) : undefined;
    const key = !this.typed ? this.key(u) : this.recordKey(u, record?.values ?? []);
    // A natural key shared by duplicates holds one hash: the first unit's delete removes it, the
    // others find nothing.
    const expected = record?.repeat ? 0 : 1;
    const cmd = this.cell!.variant === "unlink" ? "UNLINK" : "DEL";
    let removed: number;
    try {
      removed = cmd === "UNLINK" ? await this.redis.unlink(key) : await this.redis.del(key);
    } catch (e) {
      throw this.conn.fail(`${cmd} ${key}`, e);
    }
    if (removed !== expected) throw this.conn.error(`${cmd} ${key} removed ${removed} keys (expected ${expected})`);
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
    this.forgetRecords();
    await this.deleteMatching("cell");
  }

  private get typedFields(): string[] | undefined {
    return this.typed?.schema.fields.map((f) => f.name);
  }

  async sizes(): Promise<SizeReading[]> {
    return readRedisSizes(this.conn, () => this.cellKeys(), this.options, this.typedFields);
  }

  async snapshot(): Promise<unknown> {
    const t = this.typed;
    return readRedisSnapshot(this.conn, () => this.cellKeys(), t && { fields: this.typedFields!, counters: { keys: t.keys, ...this.counts } });
  }

  /** Typed cells: the cell's record hashes, counted by SCAN MATCH over the cell's key pattern. */
  async storedRecords(): Promise<number | null> {
    if (!this.typed) return null;
    let n = 0;
    for await (const keys of this.distinctCellKeys()) n += keys.length;
    return n;
  }

  /** Typed cells: every record hash (HGETALL as buffers, pipelined per SCAN page), decoded in schema order. */
  async *readRecords(): AsyncIterable<RecordValues> {
    const t = this.typed;
    if (!t) throw this.conn.error("readRecords: not a typed cell");
    for await (const keys of this.distinctCellKeys()) {
      const replies = await this.conn.exec(`HGETALL ${keys.length} record hashes`, (p) => {
        for (const k of keys) p.hgetallBuffer(k);
      });
      for (let i = 0; i < keys.length; i++) {
        const h = replies[i] as Record<string, Buffer>;
        // A key deleted between SCAN and HGETALL replies an empty hash: it is no longer held.
        if (Object.keys(h).length === 0) continue;
        yield recordFromHash(t.schema, keys[i]!, h);
      }
    }
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
