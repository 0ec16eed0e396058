// MariaDB / InnoDB through mysql2: lab database, one LONGBLOB table per container and cell.
// Bulk = prepared multi-row INSERTs (binary protocol, so payloads travel as raw bytes)
// sized below the server's max_allowed_packet; per-unit = prepared INSERT / DELETE.
//
// Sizes: L1 primary = data_length + index_length after ANALYZE TABLE — InnoDB's own count
// of the table's B-tree pages (incl. off-page BLOB pages), i.e. live data before page
// compression punches holes. (Σ LENGTH(payload) would only repeat the manifest's L0 at the
// cost of reading every BLOB.) With ROW_FORMAT=COMPRESSED the pages themselves are
// compressed, so there L1 already includes table compression (recorded as reason).
// L2 primary = Σ ALLOCATED_SIZE of the cell's tablespaces (blocks really allocated, which
// is where PAGE_COMPRESSED shows), next to FILE_SIZE and data_free.
import mysql from "mysql2/promise";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { SystemError, errorMessage } from "../../errors.js";
import type { LabNamespace } from "../namespace.js";
import type { CellContext, LabSystem, SizeReading, SystemDefinition, Unit, UnitRef } from "../contract.js";
import {
  MAX_ROWS_PER_INSERT,
  SERVER_VARIABLES,
  STATUS_COUNTERS,
  VARIANT_TABLE_OPTIONS,
  createDatabaseSql,
  createTableSql,
  deleteSql,
  dirtyPagesSql,
  dropDatabaseSql,
  dropTableSql,
  globalStatusSql,
  globalVariablesSql,
  insertSql,
  tableMaintenanceSql,
  tableStatsSql,
  tableStatusSql,
  tablespacesSql,
  type MariadbVariant,
} from "./mariadb-sql.js";

const options = z
  .object({
    host: z.string().default("127.0.0.1"),
    port: z.coerce.number().int().min(1).max(65535).default(3306),
    user: z.string().default("dedup_lab"),
    /** Name of the environment variable holding the password (never the password). */
    passwordEnv: z.string().default("DEDUP_MARIADB_PASSWORD"),
    /** Optional; must be the lab database (checked before connecting). */
    database: z.string().optional(),
    connectTimeoutMs: z.coerce.number().int().min(100).default(10_000),
    /** How long sizes() waits for the cell's dirty pages to reach the files before reading ALLOCATED_SIZE. */
    flushWaitMs: z.coerce.number().int().min(0).default(30_000),
    /** Upper bound of one bulk INSERT statement; also capped at half of max_allowed_packet. */
    bulkStatementBytes: z.coerce.number().int().min(65_536).default(16 * 1024 * 1024),
  })
  .strict();
type Options = z.infer<typeof options>;

const capabilities = {
  variants: {
    default: "InnoDB, server default row format (DYNAMIC), no compression",
    page_compressed: "InnoDB PAGE_COMPRESSED=1 (algorithm = innodb_compression_algorithm; holes punched per page)",
    row_compressed: "InnoDB ROW_FORMAT=COMPRESSED (zlib, KEY_BLOCK_SIZE 8 KiB pages)",
  } satisfies Record<MariadbVariant, string>,
  maintenance: {
    optimize: "OPTIMIZE TABLE (InnoDB: recreate + analyze, returns free space to the file system)",
    analyze: "ANALYZE TABLE only (statistics refresh, no rebuild)",
  },
  layers: ["L1", "L2"],
  stages: ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"],
  embedded: false,
  appReplicas: 1,
} satisfies SystemDefinition["capabilities"];

/** Backoff between reconnect attempts when the connection drops inside a stage (~7.8 s in all). */
const RECONNECT_DELAYS_MS = [250, 500, 1000, 2000, 4000];
/** Per-row overhead of the binary protocol (lengths, id, size, sha256), generously rounded. */
const ROW_OVERHEAD = 128;

const CONNECTION_LOSS_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "PROTOCOL_CONNECTION_LOST", "ER_SERVER_SHUTDOWN", "ER_CONNECTION_KILLED"]);

interface MysqlError extends Error {
  code?: string;
  errno?: number;
  fatal?: boolean;
}

function isConnectionLoss(e: unknown): boolean {
  const err = e as MysqlError;
  return err?.fatal === true || CONNECTION_LOSS_CODES.has(err?.code ?? "");
}

function isDuplicateKey(e: unknown): boolean {
  return (e as MysqlError)?.code === "ER_DUP_ENTRY";
}

type Row = Record<string, unknown>;

function num(v: unknown): number | null {
  if (v === null || v === undefined || v === "") return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

class MariadbSystem implements LabSystem {
  readonly name = "mariadb";
  readonly capabilities = capabilities;
  private conn?: mysql.Connection;
  private cell?: CellContext;
  private tables: string[] = [];
  private maxAllowedPacket = 0;
  /** innodb_max_dirty_pages_pct_lwm > 0: the page cleaner flushes an idle server's dirty pages. */
  private idleFlushing = false;
  private readonly endpoint: string;
  private readonly db: string;

  constructor(
    private readonly lab: LabNamespace,
    private readonly options: Options,
  ) {
    this.endpoint = mariadbDefinition.endpoint(options);
    this.db = lab.sqlName;
  }

  // ---- connection handling -------------------------------------------------------------

  private fail(what: string, e?: unknown): SystemError {
    return new SystemError("mariadb", this.endpoint, e === undefined ? what : `${what}: ${this.describe(e)}`, { cause: e });
  }

  /** One line, never the password. */
  private describe(e: unknown): string {
    const err = e as MysqlError;
    let msg = errorMessage(e).replace(/\s+/g, " ").trim();
    const password = process.env[this.options.passwordEnv];
    if (password) msg = msg.split(password).join("***");
    switch (err?.code) {
      case "ECONNREFUSED":
        return `connection refused (${msg}) — is the server running on this host and port?`;
      case "ETIMEDOUT":
        return `connection timed out after ${this.options.connectTimeoutMs} ms — check host, port and firewall`;
      case "ER_ACCESS_DENIED_ERROR":
        return `${msg} — check the user and the password in $${this.options.passwordEnv}`;
      case undefined:
        return msg;
      default:
        return `${msg} (${err.code})`;
    }
  }

  private async openRaw(): Promise<mysql.Connection> {
    const password = process.env[this.options.passwordEnv];
    if (password === undefined) {
      throw this.fail(`password variable $${this.options.passwordEnv} is not set — export it (scripts/services.sh up writes it to .services/env)`);
    }
    const conn = await mysql.createConnection({
      host: this.options.host,
      port: this.options.port,
      user: this.options.user,
      password,
      connectTimeout: this.options.connectTimeoutMs,
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
      multipleStatements: false,
    });
    // An idle connection the server drops emits 'error'; the next command fails and run() reconnects.
    conn.on("error", () => {});
    return conn;
  }

  /**
   * Run `fn` on the connection; when the connection drops, reconnect with backoff and run it
   * again (`retry` = true), so a restarted server or a dropped socket does not fail a stage.
   */
  private async run<T>(what: string, fn: (c: mysql.Connection, retry: boolean) => Promise<T>): Promise<T> {
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

  private async query<T extends Row = Row>(sql: string, what = sql.split(" ").slice(0, 3).join(" ")): Promise<T[]> {
    return this.run(what, async (c) => {
      const [rows] = await c.query(sql);
      return rows as T[];
    });
  }

  async connect(): Promise<void> {
    if (this.conn) return;
    try {
      this.conn = await this.openRaw();
    } catch (e) {
      if (e instanceof SystemError) throw e;
      throw this.fail(`connect as ${this.options.user} failed`, e);
    }
    const [row] = await this.query<{ p: string; lwm: string }>(
      "SELECT @@max_allowed_packet AS p, @@innodb_max_dirty_pages_pct_lwm AS lwm",
      "read server variables",
    );
    this.maxAllowedPacket = Number(row!.p);
    this.idleFlushing = Number(row!.lwm) > 0;
  }

  async close(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    await c?.end().catch(() => c.destroy());
  }

  // ---- lab objects ----------------------------------------------------------------------

  private tablePrefix(cell: CellContext): string {
    return this.lab.tableName("units", cell.cellKey) + "_";
  }

  private get variant(): MariadbVariant {
    const v = this.cell!.variant;
    if (!(v in VARIANT_TABLE_OPTIONS)) throw this.fail(`unknown variant "${v}" — use one of: ${Object.keys(VARIANT_TABLE_OPTIONS).join(", ")}`);
    return v as MariadbVariant;
  }

  async prepare(cell: CellContext): Promise<void> {
    this.cell = cell;
    this.tables = Array.from({ length: cell.containers }, (_, c) => this.lab.tableName("units", cell.cellKey, `c${c}`));
    const variant = this.variant;
    await this.query(createDatabaseSql(this.db), `create database ${this.db}`);
    for (const t of this.tables) {
      await this.query(dropTableSql(this.db, t), `drop leftover table ${t}`);
      await this.query(createTableSql(this.db, t, variant), `create table ${t}`);
    }
  }

  async reset(): Promise<void> {
    await this.prepare(this.cell!);
  }

  async cleanup(): Promise<void> {
    await this.query(dropDatabaseSql(this.db), `drop database ${this.db}`);
    this.tables = [];
  }

  // ---- writes ---------------------------------------------------------------------------

  /** Bytes one bulk statement may carry: the configured bound, but at most half the packet limit. */
  private get statementBytes(): number {
    return Math.max(65_536, Math.min(this.options.bulkStatementBytes, Math.floor(this.maxAllowedPacket / 2)));
  }

  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<void> {
    const pending = this.tables.map(() => ({ units: [] as Unit[], bytes: 0 }));
    const limit = this.statementBytes;
    for await (const batch of batches) {
      for (const u of batch) {
        const p = pending[u.container]!;
        const bytes = u.size + ROW_OVERHEAD;
        if (p.units.length > 0 && (p.bytes + bytes > limit || p.units.length >= MAX_ROWS_PER_INSERT)) {
          await this.insertRows(u.container, p.units);
          p.units = [];
          p.bytes = 0;
        }
        p.units.push(u);
        p.bytes += bytes;
      }
    }
    for (const [c, p] of pending.entries()) if (p.units.length > 0) await this.insertRows(c, p.units);
  }

  /** One multi-row INSERT = one transaction (autocommit). A retry after a lost connection that
   *  hits a duplicate key means the first attempt committed before the connection dropped. */
  private async insertRows(container: number, units: Unit[]): Promise<void> {
    const table = this.tables[container]!;
    for (const u of units) {
      if (u.size + ROW_OVERHEAD > this.maxAllowedPacket) {
        throw this.fail(`unit ${u.id} (${u.size} B) exceeds max_allowed_packet=${this.maxAllowedPacket} — raise max_allowed_packet on the server`);
      }
    }
    const sql = insertSql(this.db, table, units.length);
    const params = units.flatMap((u) => [u.id, u.size, u.sha256, u.payload]);
    await this.run(`insert of ${units.length} rows into ${table}`, async (c, retry) => {
      try {
        await c.execute(sql, params);
      } catch (e) {
        if (!(retry && isDuplicateKey(e))) throw e;
      } finally {
        // keep the per-unit statement cached; bulk statements vary in row count
        if (units.length > 1) {
          try {
            c.unprepare(sql);
          } catch {
            // the connection is gone; so is the statement
          }
        }
      }
    });
  }

  async insert(u: Unit): Promise<void> {
    await this.insertRows(u.container, [u]);
  }

  async delete(u: UnitRef): Promise<void> {
    const table = this.tables[u.container]!;
    const deleted = await this.run(`delete of ${u.id} from ${table}`, async (c, retry) => {
      const [r] = await c.execute<mysql.ResultSetHeader>(deleteSql(this.db, table), [u.id]);
      // after a reconnect, 0 rows means the first attempt had already deleted it
      return retry && r.affectedRows === 0 ? 1 : r.affectedRows;
    });
    if (deleted !== 1) throw this.fail(`delete of ${u.id} from ${table} removed ${deleted} rows`);
  }

  async maintenance(name: string): Promise<void> {
    const kind = name === "optimize" ? "OPTIMIZE" : name === "analyze" ? "ANALYZE" : undefined;
    if (!kind) throw this.fail(`unknown maintenance "${name}" — use one of: ${Object.keys(capabilities.maintenance).join(", ")}`);
    await this.tableMaintenance(kind);
  }

  /** OPTIMIZE/ANALYZE report failures as result rows, not as errors: check them. */
  private async tableMaintenance(kind: "OPTIMIZE" | "ANALYZE"): Promise<void> {
    const rows = await this.query<{ Table: string; Msg_type: string; Msg_text: string }>(
      tableMaintenanceSql(kind, this.db, this.tables),
      `${kind} TABLE`,
    );
    const bad = rows.find((r) => r.Msg_type.toLowerCase() === "error");
    if (bad) throw this.fail(`${kind} TABLE ${bad.Table}: ${bad.Msg_text}`);
  }

  // ---- sizes and snapshots --------------------------------------------------------------

  /** Wait until none of the cell's pages are dirty, so ALLOCATED_SIZE reflects written pages.
   *  Without idle flushing that never happens by itself: look once and report. */
  private async waitForFlush(spaces: number[]): Promise<number> {
    if (spaces.length === 0) return 0;
    const deadline = Date.now() + (this.idleFlushing ? this.options.flushWaitMs : 0);
    for (;;) {
      const [row] = await this.query<{ dirty: string }>(dirtyPagesSql(spaces), "count dirty pages");
      const dirty = Number(row!.dirty);
      if (dirty === 0 || Date.now() >= deadline) return dirty;
      await sleep(200);
    }
  }

  async sizes(): Promise<SizeReading[]> {
    await this.tableMaintenance("ANALYZE");
    const stats = await this.query<Row>(tableStatsSql(this.db, this.tables), "read information_schema.TABLES");
    let spaces: Row[] | null = null;
    let spaceProblem = "";
    try {
      spaces = await this.query<Row>(tablespacesSql(this.db, this.tables), "read INNODB_SYS_TABLESPACES");
    } catch (e) {
      spaceProblem = `INNODB_SYS_TABLESPACES unreadable (the lab user needs the global PROCESS privilege): ${errorMessage(e)}`;
    }
    if (spaces) {
      const unflushedPages = await this.waitForFlush(spaces.map((s) => Number(s.space)));
      if (unflushedPages > 0) {
        spaceProblem = this.idleFlushing
          ? `${unflushedPages} pages of the cell's tables still dirty after ${this.options.flushWaitMs} ms: ALLOCATED_SIZE may lag`
          : `${unflushedPages} pages of the cell's tables are dirty and innodb_max_dirty_pages_pct_lwm=0 (no idle flushing): ALLOCATED_SIZE lags until the server flushes them`;
      }
      spaces = await this.query<Row>(tablespacesSql(this.db, this.tables), "read INNODB_SYS_TABLESPACES");
      if (spaces.length !== this.tables.length) {
        spaceProblem = `${spaces.length} of ${this.tables.length} tablespaces found (innodb_file_per_table off?)`;
      }
    }

    const sum = (rows: Row[] | null, col: string, expected: number): number | null => {
      if (!rows || rows.length !== expected) return null;
      let total = 0;
      for (const r of rows) {
        const v = num(r[col]);
        if (v === null) return null;
        total += v;
      }
      return total;
    };
    const n = this.tables.length;
    const statsReason = stats.length === n ? undefined : `${stats.length} of ${n} tables in information_schema.TABLES`;
    const l1Reason =
      statsReason ?? (this.cell?.variant === "row_compressed" ? "ROW_FORMAT=COMPRESSED: data_length counts compressed pages, so L1 already includes table compression" : undefined);
    const data = sum(stats, "data_length", n);
    const index = sum(stats, "index_length", n);
    const l2 = (metric: string, bytes: number | null, primary = false): SizeReading => ({
      layer: "L2",
      metric,
      bytes,
      ...(primary ? { primary } : {}),
      ...(spaceProblem ? { reason: spaceProblem } : {}),
    });
    const l1 = (metric: string, bytes: number | null, primary = false): SizeReading => ({
      layer: "L1",
      metric,
      bytes,
      ...(primary ? { primary } : {}),
      ...(l1Reason ? { reason: l1Reason } : {}),
    });
    return [
      l1("data_plus_index_length", data === null || index === null ? null : data + index, true),
      l1("data_length", data),
      l1("index_length", index),
      l2("allocated_size", sum(spaces, "allocated_size", n), true),
      l2("file_size", sum(spaces, "file_size", n)),
      { layer: "L2", metric: "data_free", bytes: sum(stats, "data_free", n), ...(statsReason ? { reason: statsReason } : {}) },
    ];
  }

  async snapshot(): Promise<unknown> {
    const pairs = (rows: Row[]): Record<string, string> =>
      Object.fromEntries(rows.map((r) => [String(r.Variable_name), String(r.Value)]));
    const unavailable = (e: unknown) => ({ unavailable: errorMessage(e) });
    const tablespaces = await this.query(tablespacesSql(this.db, this.tables), "read INNODB_SYS_TABLESPACES").catch(unavailable);
    const spaces = Array.isArray(tablespaces) ? tablespaces.map((s) => Number(s.space)) : [];
    return {
      variant: this.cell?.variant,
      table_options: VARIANT_TABLE_OPTIONS[this.variant],
      variables: pairs(await this.query(globalVariablesSql(SERVER_VARIABLES), "SHOW GLOBAL VARIABLES")),
      global_status: pairs(await this.query(globalStatusSql(STATUS_COUNTERS), "SHOW GLOBAL STATUS")),
      table_status: await this.query(tableStatusSql(this.db, this.tablePrefix(this.cell!)), "SHOW TABLE STATUS"),
      tablespaces,
      dirty_pages: spaces.length ? Number((await this.query(dirtyPagesSql(spaces), "count dirty pages"))[0]!.dirty) : null,
      innodb_cmp: await this.query("SELECT * FROM information_schema.INNODB_CMP", "read INNODB_CMP").catch(unavailable),
    };
  }
}

export const mariadbDefinition: SystemDefinition<Options> = {
  name: "mariadb",
  description: "MariaDB / InnoDB (mysql2): lab database, one LONGBLOB table per container",
  capabilities,
  options,
  checkNamespace: (o, lab) => lab.requireLabSql("mariadb", "database", o.database),
  endpoint: (o) => `${o.host}:${o.port}`,
  create: (o, lab) => new MariadbSystem(lab, o),
};
