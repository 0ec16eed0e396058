// SQLite through better-sqlite3: the contract only. One database file per cell, one table per
// container. Opening the file: sqlite-connection.ts; SQL text: sqlite-sql.ts; sizes and
// snapshot: sqlite-sizes.ts; options, capabilities, definition: sqlite-options.ts.
import type Database from "better-sqlite3";
import { SystemError } from "../../errors.js";
import { decodeRecord, type RecordValues } from "../../generators/records.js";
import type { LabNamespace } from "../namespace.js";
import { OK, recordOf, type Capabilities, type CellContext, type LabSystem, type OpStatus, type SizeReading, type Unit, type UnitRef } from "../contract.js";
import { openSqlite, removeSqliteFiles, sqliteFiles, sqlitePath } from "./sqlite-connection.js";
import { readSqliteSizes, readSqliteSnapshot } from "./sqlite-sizes.js";
import { countSql, createTableSql, deleteSql, insertSql } from "./sqlite-sql.js";
import { SqliteTypedLayout, dbstatBytes } from "./sqlite-typed.js";

export class SqliteSystem implements LabSystem {
  readonly name = "sqlite";
  private db?: Database.Database;
  private cell?: CellContext;
  private path = "";
  private insertStmts: Database.Statement[] = [];
  private deleteStmts: Database.Statement[] = [];
  /** Typed cells: the table layout, collisions met. */
  private typed?: SqliteTypedLayout;
  private rejected = 0;

  constructor(
    private readonly lab: LabNamespace,
    readonly capabilities: Capabilities,
  ) {}

  async connect(): Promise<void> {}

  async close(): Promise<void> {
    this.db?.close();
    this.db = undefined;
  }

  private table(container: number): string {
    return this.lab.tableName(this.cell?.typed ? "records" : "units", `c${container}`);
  }

  private tables(): string[] {
    return Array.from({ length: this.cell!.containers }, (_, c) => this.table(c));
  }

  async prepare(cell: CellContext): Promise<void> {
    await this.close();
    this.cell = cell;
    this.path = sqlitePath(cell.workDir, this.lab.sqlName);
    this.db = openSqlite(this.path, cell.variant);
    this.typed = cell.typed ? new SqliteTypedLayout(cell.typed.schema, cell.typed.keys) : undefined;
    this.rejected = 0;
    this.createTables();
  }

  private createTables(): void {
    const db = this.db!;
    this.insertStmts = [];
    this.deleteStmts = [];
    const l = this.typed;
    for (const t of this.tables()) {
      db.exec(l ? l.createSql(t) : createTableSql(t));
      this.insertStmts.push(db.prepare(l ? l.insertSql(t) : insertSql(t)));
      this.deleteStmts.push(db.prepare(l ? l.deleteSql(t) : deleteSql(t)));
    }
  }

  /** One unit's row: the blob row, or (typed) the decoded record under its key; a natural-key duplicate is counted. */
  private write(u: Unit): void {
    const l = this.typed;
    if (!l) {
      this.insertStmts[u.container]!.run(u.id, u.size, u.sha256, u.payload);
      return;
    }
    const values = decodeRecord(l.schema, u.payload);
    const key = l.keyValue(u.index, values, u.sha256);
    const r = this.insertStmts[u.container]!.run(...l.row(key as never, values));
    if (r.changes === 0) this.rejected++;
  }

  /** Prepared statements, one transaction per batch. */
  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<OpStatus> {
    const writeBatch = this.db!.transaction((units: Unit[]) => {
      for (const u of units) this.write(u);
    });
    for await (const batch of batches) writeBatch(batch);
    return OK;
  }

  async insert(u: Unit): Promise<OpStatus> {
    this.write(u);
    return OK;
  }

  /**
   * Blob and surrogate cells delete the unit's own row. Natural cells delete the record under the
   * ref's natural key: a repeat of a record already deleted finds nothing.
   */
  async delete(u: UnitRef): Promise<OpStatus> {
    const l = this.typed;
    const fail = (m: string) => new SystemError("sqlite", this.path, m);
    const record = l?.keys === "natural" ? recordOf(u, fail) : undefined;
    const key = l ? l.keyValue(u.index, record?.values ?? [], u.sha256) : u.id;
    const r = this.deleteStmts[u.container]!.run(key);
    const expected = record?.repeatInContainer ? 0 : 1;
    if (r.changes !== expected) throw fail(`delete of ${u.id} removed ${r.changes} rows (expected ${expected})`);
    return OK;
  }

  /** Typed cells: rows of the typed tables (count(*)). */
  async storedRecords(): Promise<number | null> {
    if (!this.typed) return null;
    let n = 0;
    for (const t of this.tables()) n += Number((this.db!.prepare(countSql(t)).get() as { n: number }).n);
    return n;
  }

  /** Typed cells: every row of every typed table, decoded back to the schema's values. */
  async *readRecords(): AsyncIterable<RecordValues> {
    if (!this.typed) throw new SystemError("sqlite", this.path, "readRecords: not a typed cell");
    for (const t of this.tables()) yield* this.typed.read(this.db!, t);
  }

  /** WAL mode: copy the WAL into the database file and truncate it, so L1/L2 see every row. */
  async settle(): Promise<OpStatus> {
    if (this.cell?.variant === "wal") this.db!.pragma("wal_checkpoint(TRUNCATE)");
    return OK;
  }

  async maintenance(name: string): Promise<OpStatus> {
    if (name !== "vacuum") throw new SystemError("sqlite", this.path, `unknown maintenance "${name}"`);
    this.db!.exec("VACUUM");
    if (this.cell?.variant === "wal") this.db!.pragma("wal_checkpoint(TRUNCATE)");
    return OK;
  }

  /** A fresh database file, so the next stage's file-system baseline is not a reused free list. */
  async reset(): Promise<void> {
    await this.prepare(this.cell!);
  }

  async sizes(): Promise<SizeReading[]> {
    const sizes = await readSqliteSizes(this.db!, this.storagePaths());
    if (!this.typed) return sizes;
    const bytes = dbstatBytes(this.db!, this.tables());
    return [...sizes, { layer: "L1", metric: "sqlite_dbstat_typed_table_bytes", bytes, ...(bytes === null ? { reason: "dbstat virtual table unavailable" } : {}) }];
  }

  async snapshot(): Promise<unknown> {
    const s = readSqliteSnapshot(this.db!, this.tables()) as Record<string, unknown>;
    if (!this.typed) return s;
    return { ...s, typed: { keys: this.typed.keys, rejected_duplicates: this.rejected } };
  }

  async cleanup(): Promise<void> {
    await this.close();
    removeSqliteFiles(this.path);
  }

  storagePaths(): string[] {
    return sqliteFiles(this.path);
  }
}
