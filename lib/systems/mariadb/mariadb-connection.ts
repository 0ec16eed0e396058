// Connecting to MariaDB through mysql2: one connection, reopened with the shared backoff when
// it drops inside a stage, and the one-line error wording (never the password).
import mysql from "mysql2/promise";
import { SystemError } from "../../errors.js";
import { RECONNECT_DELAYS_MS, sleep } from "../reconnect.js";
import { connectionRefused, credentialsRefused, passwordVariableUnset, serverMessage, systemFailure } from "../server-errors.js";
import { tableMaintenanceSql } from "./mariadb-sql.js";

/** What the connection needs of the mariadb options block. */
export interface MariadbConnectionOptions {
  host: string;
  port: number;
  user: string;
  passwordEnv: string;
  connectTimeoutMs: number;
}

export function mariadbEndpoint(o: { host: string; port: number }): string {
  return `${o.host}:${o.port}`;
}

const CONNECTION_LOSS_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "PROTOCOL_CONNECTION_LOST", "ER_SERVER_SHUTDOWN", "ER_CONNECTION_KILLED"]);

interface MysqlError extends Error {
  code?: string;
  errno?: number;
  fatal?: boolean;
}

export function isConnectionLoss(e: unknown): boolean {
  const err = e as MysqlError;
  return err?.fatal === true || CONNECTION_LOSS_CODES.has(err?.code ?? "");
}

export function isDuplicateKey(e: unknown): boolean {
  return (e as MysqlError)?.code === "ER_DUP_ENTRY";
}

type Row = Record<string, unknown>;

export class MariadbConnection {
  private conn?: mysql.Connection;
  readonly endpoint: string;

  constructor(private readonly o: MariadbConnectionOptions) {
    this.endpoint = mariadbEndpoint(o);
  }

  get isOpen(): boolean {
    return this.conn !== undefined;
  }

  fail(what: string, e?: unknown): SystemError {
    return systemFailure("mariadb", this.endpoint, what, e, (x) => this.describe(x));
  }

  /** One line, never the password. */
  private describe(e: unknown): string {
    const err = e as MysqlError;
    const msg = serverMessage(e, this.o.passwordEnv);
    switch (err?.code) {
      case "ECONNREFUSED":
        return connectionRefused(msg);
      case "ETIMEDOUT":
        return `connection timed out after ${this.o.connectTimeoutMs} ms — check host, port and firewall`;
      case "ER_ACCESS_DENIED_ERROR":
        return credentialsRefused(msg, this.o.passwordEnv);
      case undefined:
        return msg;
      default:
        return `${msg} (${err.code})`;
    }
  }

  private async openRaw(): Promise<mysql.Connection> {
    const password = process.env[this.o.passwordEnv];
    if (password === undefined) throw passwordVariableUnset("mariadb", this.endpoint, this.o.passwordEnv);
    const conn = await mysql.createConnection({
      host: this.o.host,
      port: this.o.port,
      user: this.o.user,
      password,
      connectTimeout: this.o.connectTimeoutMs,
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
      multipleStatements: false,
    });
    // An idle connection the server drops emits 'error'; the next command fails and run() reconnects.
    conn.on("error", () => {});
    return conn;
  }

  /** Open the connection (no retries: an unreachable server at the start is a plain error). */
  async open(): Promise<void> {
    if (this.conn) return;
    try {
      this.conn = await this.openRaw();
    } catch (e) {
      if (e instanceof SystemError) throw e;
      throw this.fail(`connect as ${this.o.user} failed`, e);
    }
  }

  /**
   * Run `fn` on the connection; when the connection drops, reconnect with backoff and run it
   * again (`retry` = true), so a restarted server or a dropped socket does not fail a stage.
   */
  async run<T>(what: string, fn: (c: mysql.Connection, retry: boolean) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        this.conn ??= await this.openRaw();
        return await fn(this.conn, attempt > 0);
      } catch (e) {
        if (e instanceof SystemError) throw e;
        if (!isConnectionLoss(e)) throw this.fail(what, e);
        this.conn?.destroy();
        this.conn = undefined;
        if (attempt >= RECONNECT_DELAYS_MS.length) {
          throw this.fail(`${what} (gave up after ${RECONNECT_DELAYS_MS.length} reconnect attempts)`, e);
        }
        await sleep(RECONNECT_DELAYS_MS[attempt]!);
      }
    }
  }

  async query<T extends Row = Row>(sql: string, what = sql.split(" ").slice(0, 3).join(" ")): Promise<T[]> {
    return this.run(what, async (c) => {
      const [rows] = await c.query(sql);
      return rows as T[];
    });
  }

  /** OPTIMIZE/ANALYZE report failures as result rows, not as errors: check them. */
  async tableMaintenance(kind: "OPTIMIZE" | "ANALYZE", db: string, tables: string[]): Promise<void> {
    const rows = await this.query<{ Table: string; Msg_type: string; Msg_text: string }>(tableMaintenanceSql(kind, db, tables), `${kind} TABLE`);
    const bad = rows.find((r) => r.Msg_type.toLowerCase() === "error");
    if (bad) throw this.fail(`${kind} TABLE ${bad.Table}: ${bad.Msg_text}`);
  }

  async close(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    await c?.end().catch(() => c.destroy());
  }
}
