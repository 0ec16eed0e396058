// MariaDB / InnoDB through mysql2: the contract only. Lab database, one LONGBLOB table per
// container and cell. Bulk = prepared multi-row INSERTs (binary protocol, so payloads travel
// as raw bytes) sized below the server's max_allowed_packet; per-unit = prepared INSERT /
// DELETE. Connecting and reconnects: mariadb-connection.ts; SQL text: mariadb-sql.ts; sizes
// and snapshot: mariadb-sizes.ts; options, capabilities, definition: mariadb-options.ts.
import type mysql from "mysql2/promise";
import { decodeRecord, type RecordValues } from "../../generators/records.js";
import type { LabNamespace } from "../namespace.js";
import { OK, notImplemented, recordOf, type Capabilities, type CellContext, type LabSystem, type OpStatus, type SizeReading, type Unit, type UnitRef } from "../contract.js";
import { MariadbConnection, isDuplicateKey } from "./mariadb-connection.js";
import type { MariadbOptions } from "./mariadb-options.js";
import { readMariadbSizes, readMariadbSnapshot, type MariadbCellTables } from "./mariadb-sizes.js";
import {
  MAX_ROWS_PER_INSERT, VARIANT_TABLE_OPTIONS, createDatabaseSql, qualified, createTableSql, deleteSql, dropDatabaseSql, dropTableSql, insertSql, labTablesSql,
  type MariadbVariant,
} from "./mariadb-sql.js";
import {
  decodeTypedRow, keyParam, mariadbTypedLayout, maxTypedRows, pageKey, typedCreateTableSql, typedDeleteSql, typedInsertSql, typedParams,
  typedSelectSql, type MariadbParam, type MariadbTypedLayout,
} from "./mariadb-typed.js";

/** Per-row overhead of the binary protocol (lengths, id, size, sha256), generously rounded. */
const ROW_OVERHEAD = 128;
/** Rows per page when reading typed records back. */
const READ_PAGE_ROWS = 1000;
/** MariaDB's ER_DUP_ENTRY: the only warning an INSERT IGNORE of a typed cell may leave. */
const DUP_ENTRY = 1062;

/** Typed-cell bookkeeping: the layout and the collision counts. */
interface TypedState {
  layout: MariadbTypedLayout;
  written: number;
  rejected: number;
}

export class MariadbSystem implements LabSystem {
  readonly name = "mariadb";
  private readonly conn: MariadbConnection;
  private cell?: CellContext;
  private tables: string[] = [];
  private maxAllowedPacket = 0;
  /** innodb_max_dirty_pages_pct_lwm > 0: the page cleaner flushes an idle server's dirty pages. */
  private idleFlushing = false;
  private readonly db: string;
  /** Present in a typed cell (cell.typed). */
  private typed?: TypedState;

  constructor(
    private readonly lab: LabNamespace,
    private readonly options: MariadbOptions,
    readonly capabilities: Capabilities,
  ) {
    this.conn = new MariadbConnection(options);
    this.db = lab.sqlName;
  }

  private fail(what: string, e?: unknown) {
    return this.conn.fail(what, e);
  }

  private query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string, what?: string): Promise<T[]> {
    return this.conn.query<T>(sql, what);
  }

  async connect(): Promise<void> {
    if (this.conn.isOpen) return;
    await this.conn.open();
    const [row] = await this.query<{ p: string; lwm: string }>(
      "SELECT @@max_allowed_packet AS p, @@innodb_max_dirty_pages_pct_lwm AS lwm",
      "read server variables",
    );
    this.maxAllowedPacket = Number(row!.p);
    this.idleFlushing = Number(row!.lwm) > 0;
  }

  async close(): Promise<void> {
    await this.conn.close();
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
    this.typed = cell.typed ? { layout: mariadbTypedLayout(cell.typed.schema, cell.typed.keys), written: 0, rejected: 0 } : undefined;
    await this.query(createDatabaseSql(this.db), `create database ${this.db}`);
    for (const t of this.tables) {
      await this.query(dropTableSql(this.db, t), `drop leftover table ${t}`);
      const sql = this.typed ? typedCreateTableSql(this.db, t, this.typed.layout, VARIANT_TABLE_OPTIONS[variant]) : createTableSql(this.db, t, variant);
      await this.query(sql, `create table ${t}`);
    }
  }

  async reset(): Promise<void> {
    await this.prepare(this.cell!);
  }

  async cleanup(scope?: string): Promise<void> {
    if (scope) {
      // Only the scope's tables (`units_<cell key or run token>…`); the database goes when it is empty.
      const own = this.lab.tableName("units", scope);
      const tables = (await this.query<{ name: string }>(labTablesSql(this.db), "list lab tables")).map((r) => r.name);
      for (const t of tables.filter((n) => n.startsWith(own))) await this.query(dropTableSql(this.db, t), `drop table ${t}`);
      if (tables.some((n) => !n.startsWith(own))) return;
    }
    await this.query(dropDatabaseSql(this.db), `drop database ${this.db}`);
    this.tables = [];
  }

  // ---- writes ---------------------------------------------------------------------------

  /** Bytes one bulk statement may carry: the configured bound, but at most half the packet limit. */
  private get statementBytes(): number {
    return Math.max(65_536, Math.min(this.options.bulkStatementBytes, Math.floor(this.maxAllowedPacket / 2)));
  }

  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<OpStatus> {
    if (this.typed) return this.typedBulkInsert(batches);
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
    return OK;
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
    await this.conn.run(`insert of ${units.length} rows into ${table}`, async (c, retry) => {
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

  async insert(u: Unit): Promise<OpStatus> {
    if (this.typed) {
      await this.insertTyped(u.container, [u]);
      return OK;
    }
    await this.insertRows(u.container, [u]);
    return OK;
  }

  async delete(u: UnitRef): Promise<OpStatus> {
    if (this.typed) return this.deleteTyped(u);
    const table = this.tables[u.container]!;
    const deleted = await this.conn.run(`delete of ${u.id} from ${table}`, async (c, retry) => {
      const [r] = await c.execute<mysql.ResultSetHeader>(deleteSql(this.db, table), [u.id]);
      // after a reconnect, 0 rows means the first attempt had already deleted it
      return retry && r.affectedRows === 0 ? 1 : r.affectedRows;
    });
    if (deleted !== 1) throw this.fail(`delete of ${u.id} from ${table} removed ${deleted} rows`);
    return OK;
  }

  // ---- typed cells ------------------------------------------------------------------------

  /** Typed bulk: multi-row INSERTs (INSERT IGNORE with natural keys) per container, bounded by statement bytes and placeholders. */
  private async typedBulkInsert(batches: AsyncIterable<Unit[]>): Promise<OpStatus> {
    const pending = this.tables.map(() => ({ units: [] as Unit[], bytes: 0 }));
    const limit = this.statementBytes;
    const maxRows = Math.min(MAX_ROWS_PER_INSERT, maxTypedRows(this.typed!.layout));
    for await (const batch of batches) {
      for (const u of batch) {
        const p = pending[u.container]!;
        const bytes = u.size + ROW_OVERHEAD;
        if (p.units.length > 0 && (p.bytes + bytes > limit || p.units.length >= maxRows)) {
          await this.insertTyped(u.container, p.units);
          p.units = [];
          p.bytes = 0;
        }
        p.units.push(u);
        p.bytes += bytes;
      }
    }
    for (const [c, p] of pending.entries()) if (p.units.length > 0) await this.insertTyped(c, p.units);
    return OK;
  }

  /**
   * One multi-row INSERT of typed records. Natural keys: INSERT IGNORE, so a record whose key is
   * stored (or earlier in the statement) is rejected and counted (rows − affected rows); every
   * warning it leaves must be a duplicate key (IGNORE would also turn other errors into warnings).
   */
  private async insertTyped(container: number, units: Unit[]): Promise<void> {
    const t = this.typed!;
    const l = t.layout;
    const table = this.tables[container]!;
    const params: MariadbParam[] = [];
    for (const u of units) {
      if (u.size + ROW_OVERHEAD > this.maxAllowedPacket) {
        throw this.fail(`record ${u.id} (${u.size} B) exceeds max_allowed_packet=${this.maxAllowedPacket} — raise max_allowed_packet on the server`);
      }
      const values = decodeRecord(l.schema, u.payload);
      try {
        params.push(...typedParams(l, u, values));
      } catch (e) {
        throw this.fail(`record ${u.id}: ${(e as Error).message}`);
      }
    }
    const sql = typedInsertSql(this.db, table, l, units.length);
    const natural = l.keys === "natural";
    const inserted = await this.conn.run(`typed insert of ${units.length} rows into ${table}`, async (c, retry) => {
      try {
        if (natural) await c.query("SET SESSION max_error_count = 65535");
        const [r] = await c.execute<mysql.ResultSetHeader>(sql, params);
        if (natural && r.warningStatus > 0) {
          const [w] = await c.query<mysql.RowDataPacket[]>("SHOW WARNINGS");
          const other = w.find((x) => Number(x.Code) !== DUP_ENTRY);
          if (other) throw this.fail(`INSERT IGNORE into ${table}: ${other.Level} ${other.Code}: ${other.Message} (only duplicate keys may be ignored)`);
          if (w.length !== units.length - r.affectedRows) throw this.fail(`INSERT IGNORE into ${table}: ${w.length} duplicate-key warnings for ${units.length - r.affectedRows} rejected rows`);
        }
        return r.affectedRows;
      } catch (e) {
        // a retry that meets its own rows: the first attempt committed before the connection dropped
        if (!(retry && isDuplicateKey(e))) throw e;
        return units.length;
      } finally {
        if (units.length > 1) {
          try {
            c.unprepare(sql);
          } catch {
            // the connection is gone; so is the statement
          }
        }
      }
    });
    t.written += units.length;
    t.rejected += units.length - inserted;
    if (inserted !== units.length) this.cell?.log(`typed insert into ${table}: ${units.length - inserted} of ${units.length} records rejected (natural key already stored)`);
  }

  private async deleteTyped(u: UnitRef): Promise<OpStatus> {
    const t = this.typed!;
    const table = this.tables[u.container]!;
    const record = t.layout.keys === "natural" ? recordOf(u, (m) => this.fail(m)) : undefined;
    const key: MariadbParam = record ? keyParam(t.layout, u, record.values) : u.id;
    const keyId = Buffer.isBuffer(key) ? key.toString("hex") : String(key);
    const deleted = await this.conn.run(`delete of ${u.id} from ${table}`, async (c, retry) => {
      const [r] = await c.execute<mysql.ResultSetHeader>(typedDeleteSql(this.db, table, t.layout), [key]);
      return retry && r.affectedRows === 0 ? 1 : r.affectedRows;
    });
    // natural keys: a later duplicate of an already deleted record finds nothing, legitimately
    const already = record?.repeatInContainer === true && deleted === 0;
    if (deleted !== 1 && !already) throw this.fail(`delete of ${u.id} (key ${keyId}) from ${table} removed ${deleted} rows`);
    return OK;
  }

  async storedRecords(): Promise<number | null> {
    if (!this.typed) return null;
    let n = 0;
    for (const t of this.tables) n += Number((await this.query<{ n: string }>(`SELECT COUNT(*) AS n FROM ${qualified(this.db, t)}`, `count ${t}`))[0]!.n);
    return n;
  }

  async *readRecords(): AsyncIterable<RecordValues> {
    const t = this.typed;
    if (!t) throw this.fail("readRecords: not a typed cell");
    for (const table of this.tables) {
      let after: MariadbParam | undefined;
      for (;;) {
        const sql = typedSelectSql(this.db, table, t.layout, READ_PAGE_ROWS, after !== undefined);
        const rows = await this.conn.run(`read records of ${table}`, async (c) => {
          const [r] = await c.execute<mysql.RowDataPacket[]>(sql, after === undefined ? [] : [after]);
          return r as Record<string, unknown>[];
        });
        for (const r of rows) yield decodeTypedRow(t.layout, r);
        if (rows.length < READ_PAGE_ROWS) break;
        after = pageKey(t.layout, rows[rows.length - 1]!);
      }
    }
  }

  /**
   * Before an "after" reading: wait (bounded) until InnoDB's purge has caught up (history list
   * empty), so deleted rows are gone from the pages the sizes count. Needs PROCESS (granted locally).
   */
  async settle(): Promise<OpStatus> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      let rows: { n: string | number | null }[];
      try {
        rows = await this.query<{ n: string | number | null }>("SELECT `COUNT` AS n FROM information_schema.INNODB_METRICS WHERE NAME = 'trx_rseg_history_len'", "reading the purge backlog");
      } catch {
        return notImplemented(`InnoDB purge state is not visible to this user (needs PROCESS); sizes are read once they stop changing`);
      }
      const n = Number(rows[0]?.n ?? 0);
      if (n === 0) return OK;
      if (Date.now() > deadline) return notImplemented(`InnoDB purge still had ${n} undo log records after 30 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async maintenance(name: string): Promise<OpStatus> {
    const kind = name === "optimize" ? "OPTIMIZE" : name === "analyze" ? "ANALYZE" : undefined;
    if (!kind) throw this.fail(`unknown maintenance "${name}" — use one of: ${Object.keys(this.capabilities.maintenance).join(", ")}`);
    await this.conn.tableMaintenance(kind, this.db, this.tables);
    return OK;
  }

  // ---- sizes and snapshots --------------------------------------------------------------

  private cellTables(): MariadbCellTables {
    return { db: this.db, tables: this.tables, variant: this.cell?.variant, idleFlushing: this.idleFlushing, flushWaitMs: this.options.flushWaitMs };
  }

  async sizes(): Promise<SizeReading[]> {
    return readMariadbSizes(this.conn, this.cellTables());
  }

  async snapshot(): Promise<unknown> {
    const tableOptions = VARIANT_TABLE_OPTIONS[this.variant];
    const snap = await readMariadbSnapshot(this.conn, { ...this.cellTables(), tableOptions, tablePrefix: this.tablePrefix(this.cell!) });
    const t = this.typed;
    if (!t) return snap;
    const l = t.layout;
    const typed = { schema: l.schema.name, keys: l.keys, primary_key: l.keyColumn ? "_lab_key" : l.fieldColumns[l.pkField], records_written: t.written, rejected_duplicates: t.rejected };
    return { ...(snap as object), typed };
  }
}
