// Connecting to ClickHouse over HTTP (@clickhouse/client): the client, retries with the
// shared backoff while the server is unreachable, what the server can do (probed on
// connect), and the one-line error wording in both generations of the server's format:
//   18.x: "Code: 193, e.displayText() = DB::Exception: Wrong password for user x, e.what() = DB::Exception\n"
//   new:  "Code: 193. DB::Exception: Wrong password for user x. (WRONG_PASSWORD) (version 23.8.1.1)"
import { ClickHouseLogLevel, createClient, type ClickHouseClient, type ClickHouseSettings } from "@clickhouse/client";
import { SystemError, errorMessage } from "../../errors.js";
import { maskEnvSecrets } from "../../masking.js";
import { RECONNECT_DELAYS_MS, sleep } from "../reconnect.js";
import { connectionRefused, credentialsRefused, oneLine, passwordVariableUnset, systemFailure } from "../server-errors.js";
import { PROBED_SETTINGS, codecColumnSql, settingsSql, versionAtLeast } from "./clickhouse-sql.js";

export interface ServerError {
  code: number | null;
  text: string;
}

const OLD = /Code: (\d+), e\.displayText\(\) = (?:DB::Exception: )?([\s\S]*?)(?:, e\.what\(\) = [\s\S]*)?$/;
const NEW = /Code: (\d+)\. (?:DB::Exception: )?([\s\S]*?)(?: \(version .*\))?\s*$/;

export function parseServerError(message: string): ServerError {
  const m = OLD.exec(message) ?? NEW.exec(message);
  if (!m) return { code: null, text: oneLine(message) };
  return { code: Number(m[1]), text: oneLine(m[2]!) };
}

/** Codes that mean the credentials were refused (UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD, AUTHENTICATION_FAILED). */
export const AUTH_ERROR_CODES = new Set([192, 193, 194, 516]);

/** What the connection needs of the clickhouse options block. */
export interface ClickhouseConnectionOptions {
  host: string;
  port: number;
  protocol: "http" | "https";
  user: string;
  passwordEnv: string;
  requestTimeoutMs: number;
}

export function clickhouseEndpoint(o: { host: string; port: number }): string {
  return `${o.host}:${o.port}`;
}

const CONNECTION_LOSS_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ECONNABORTED", "EHOSTUNREACH"]);

function isConnectionLoss(e: unknown): boolean {
  const err = e as NodeJS.ErrnoException;
  return CONNECTION_LOSS_CODES.has(err?.code ?? "") || /socket hang up/i.test(errorMessage(e));
}

/** What the server can do, probed on connect. */
export interface ServerFeatures {
  version: string;
  /** Per-column CODEC(...) (ClickHouse ≥ 19.1). */
  codecs: boolean;
  /** system.columns has compression_codec (the codec each column really uses). */
  codecColumn: boolean;
  settings: Record<(typeof PROBED_SETTINGS)[number], boolean>;
}

export type Row = Record<string, string | number>;

export class ClickhouseConnection {
  private current?: ClickHouseClient;
  readonly endpoint: string;

  constructor(private readonly o: ClickhouseConnectionOptions) {
    this.endpoint = clickhouseEndpoint(o);
  }

  fail(what: string, e?: unknown): SystemError {
    return systemFailure("clickhouse", this.endpoint, what, e, (x) => this.describe(x));
  }

  /** One line, never the password. */
  private describe(e: unknown): string {
    const { code, text } = parseServerError(errorMessage(e));
    const msg = maskEnvSecrets(code === null ? text : `${text} (Code ${code})`, [this.o.passwordEnv]);
    const errno = (e as NodeJS.ErrnoException)?.code;
    if (errno === "ECONNREFUSED") return connectionRefused(msg);
    if (code !== null && AUTH_ERROR_CODES.has(code)) return credentialsRefused(msg, this.o.passwordEnv);
    return msg;
  }

  private newClient(): ClickHouseClient {
    const password = process.env[this.o.passwordEnv];
    if (password === undefined) throw passwordVariableUnset("clickhouse", this.endpoint, this.o.passwordEnv);
    return createClient({
      url: `${this.o.protocol}://${this.o.host}:${this.o.port}`,
      username: this.o.user,
      password,
      request_timeout: this.o.requestTimeoutMs,
      compression: { request: false, response: false },
      log: { level: ClickHouseLogLevel.OFF },
    });
  }

  /** The client (created on first use). */
  get client(): ClickHouseClient {
    return (this.current ??= this.newClient());
  }

  /**
   * Run `fn`; while the server is unreachable, wait with backoff and run it again
   * (`retry` = true lets `fn` check whether its first attempt landed).
   */
  async run<T>(what: string, fn: (client: ClickHouseClient, retry: boolean) => Promise<T>, retries = RECONNECT_DELAYS_MS.length): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn(this.client, attempt > 0);
      } catch (e) {
        if (e instanceof SystemError) throw e;
        if (!isConnectionLoss(e)) throw this.fail(what, e);
        if (attempt >= retries) throw this.fail(retries ? `${what} (gave up after ${retries} retries)` : what, e);
        await sleep(RECONNECT_DELAYS_MS[attempt]!);
      }
    }
  }

  async command(sql: string, what: string, settings?: ClickHouseSettings): Promise<void> {
    await this.run(what, async (c) => {
      const r = await c.command({ query: sql, clickhouse_settings: settings });
      if (r.http_status_code !== undefined && r.http_status_code !== 200) throw new Error(`HTTP ${r.http_status_code}`);
    });
  }

  async select<T extends Row = Row>(sql: string, what: string): Promise<T[]> {
    return this.run(what, async (c) => (await c.query({ query: sql, format: "JSONEachRow" })).json<T>());
  }

  /** Version and features of the server; no retries: an unreachable server at the start of a run is a plain error. */
  async probe(): Promise<ServerFeatures> {
    const [info] = await this.run(
      `connect as ${this.o.user} failed`,
      async (c) => (await c.query({ query: "SELECT version() AS version", format: "JSONEachRow" })).json<{ version: string }>(),
      0,
    );
    const present = new Set((await this.select<{ name: string }>(settingsSql(), "probe settings")).map((r) => r.name));
    const [codecColumn] = await this.select<{ n: string }>(codecColumnSql(), "probe system.columns");
    return {
      version: info!.version,
      codecs: versionAtLeast(info!.version, 19, 1),
      codecColumn: Number(codecColumn?.n ?? 0) > 0,
      settings: Object.fromEntries(PROBED_SETTINGS.map((s) => [s, present.has(s)])) as ServerFeatures["settings"],
    };
  }

  async close(): Promise<void> {
    const c = this.current;
    this.current = undefined;
    await c?.close();
  }
}
