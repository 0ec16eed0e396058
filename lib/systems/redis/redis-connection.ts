// Connecting to Redis through ioredis: fail fast on the first connect, then reconnect with
// capped backoff (each command gives up after a few attempts, so a dead server fails the cell,
// not the run); one-line error wording; SCAN pages (always with a MATCH pattern) and checked
// pipelines.
import { Redis } from "ioredis";
import { SystemError, errorMessage } from "../../errors.js";
import { maskEnvSecrets } from "../../masking.js";
import { firstLine } from "../server-errors.js";

/** Keys per SCAN page and per sizing pipeline. */
export const SCAN_COUNT = 1000;

/** What the connection needs of the redis options block. */
export interface RedisConnectionOptions {
  host: string;
  port: number;
  user?: string;
  passwordEnv?: string;
}

export function redisEndpoint(o: { host: string; port: number }): string {
  return `${o.host}:${o.port}`;
}

export type RedisPipeline = ReturnType<Redis["pipeline"]>;

export class RedisConnection {
  private client?: Redis;
  private lastConnectionError?: string;
  readonly endpoint: string;

  constructor(private readonly o: RedisConnectionOptions) {
    this.endpoint = redisEndpoint(o);
  }

  /** A SystemError with this system and endpoint. */
  error(message: string): SystemError {
    return new SystemError("redis", this.endpoint, message);
  }

  fail(what: string, e: unknown): SystemError {
    const msg = maskEnvSecrets(firstLine(errorMessage(e)), [this.o.passwordEnv]);
    // ioredis reports a dead server as "Reached the max retries per request limit …" or
    // "Connection is closed."; say what happened, with the socket error behind it.
    if (/max retries per request|Connection is closed/i.test(msg)) {
      const last = this.lastConnectionError ? ` (${this.lastConnectionError})` : "";
      return this.error(`${what}: connection lost${last} — is the server running?`);
    }
    return this.error(`${what}: ${msg}`);
  }

  get redis(): Redis {
    if (!this.client) throw this.error("not connected (call connect first)");
    return this.client;
  }

  async connect(): Promise<void> {
    if (this.client) return;
    const o = this.o;
    let password: string | undefined;
    if (o.passwordEnv) {
      password = process.env[o.passwordEnv];
      if (password === undefined) throw this.error(`environment variable ${o.passwordEnv} is not set — export it (local services: .services/env)`);
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
      throw this.error(`connect failed: ${maskEnvSecrets(firstLine(errorMessage(cause)), [o.passwordEnv])}${hint}`);
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

  /** SCAN pages of keys matching `match` that `keep` accepts (the lab check). Never an unfiltered SCAN. */
  async *scan(match: string, keep: (key: string) => boolean): AsyncGenerator<string[]> {
    let cursor = "0";
    do {
      let page: [string, string[]];
      try {
        page = await this.redis.scan(cursor, "MATCH", match, "COUNT", SCAN_COUNT);
      } catch (e) {
        throw this.fail(`SCAN MATCH ${match}`, e);
      }
      cursor = page[0];
      const keys = page[1].filter(keep);
      if (keys.length) yield keys;
    } while (cursor !== "0");
  }

  /** Run a pipeline and return its replies; any reply error fails the whole call. */
  async exec(what: string, build: (p: RedisPipeline) => void): Promise<unknown[]> {
    const p = this.redis.pipeline();
    build(p);
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await p.exec();
    } catch (e) {
      throw this.fail(what, e);
    }
    if (!replies) throw this.error(`${what}: pipeline aborted (connection lost)`);
    const bad = replies.find(([err]) => err);
    if (bad) throw this.fail(what, bad[0]);
    return replies.map(([, r]) => r);
  }
}
