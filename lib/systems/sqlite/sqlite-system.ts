// SQLite through better-sqlite3: the contract only. One database file per cell, one table per
// container. Opening the file: sqlite-connection.ts; SQL text: sqlite-sql.ts; sizes and
// snapshot: sqlite-sizes.ts; options, capabilities, definition: sqlite-options.ts.
import type Database from "better-sqlite3";
import { SystemError } from "../../errors.js";
import type { LabNamespace } from "../namespace.js";
import { OK, type Capabilities, type CellContext, type LabSystem, type OpStatus, type SizeReading, type Unit, type UnitRef } from "../contract.js";
import { openSqlite, removeSqliteFiles, sqliteFiles, sqlitePath } from "./sqlite-connection.js";
import { readSqliteSizes, readSqliteSnapshot } from "./sqlite-sizes.js";
import { createTableSql, deleteSql, insertSql } from "./sqlite-sql.js";

export class SqliteSystem implements LabSystem {
  readonly name = "sqlite";
  private db?: Database.Database;
  private cell?: CellContext;
  private path = "";
  private insertStmts: Database.Statement[] = [];
  private deleteStmts: Database.Statement[] = [];

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
    return this.lab.tableName("units", `c${container}`);
  }

  private tables(): string[] {
    return Array.from({ length: this.cell!.containers }, (_, c) => this.table(c));
  }

  async prepare(cell: CellContext): Promise<void> {
    await this.close();
    this.cell = cell;
    this.path = sqlitePath(cell.workDir, this.lab.sqlName);
    this.db = openSqlite(this.path, cell.variant);
    this.createTables();
  }

  private createTables(): void {
    const db = this.db!;
    this.insertStmts = [];
    this.deleteStmts = [];
    for (const t of this.tables()) {
      db.exec(createTableSql(t));
      this.insertStmts.push(db.prepare(insertSql(t)));
      this.deleteStmts.push(db.prepare(deleteSql(t)));
    }
  }

  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<OpStatus> {
    const db = this.db!;
    const writeBatch = db.transaction((units: Unit[]) => {
      for (const u of units) this.insertStmts[u.container]!.run(u.id, u.size, u.sha256, u.payload);
    });
    for await (const batch of batches) writeBatch(batch);
    return OK;
  }

  async insert(u: Unit): Promise<OpStatus> {
    this.insertStmts[u.container]!.run(u.id, u.size, u.sha256, u.payload);
    return OK;
  }

  async delete(u: UnitRef): Promise<OpStatus> {
    const r = this.deleteStmts[u.container]!.run(u.id);
    if (r.changes !== 1) throw new SystemError("sqlite", this.path, `delete of ${u.id} removed ${r.changes} rows`);
    return OK;
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
    return readSqliteSizes(this.db!, this.storagePaths());
  }

  async snapshot(): Promise<unknown> {
    return readSqliteSnapshot(this.db!, this.tables());
  }

  async cleanup(): Promise<void> {
    await this.close();
    removeSqliteFiles(this.path);
  }

  storagePaths(): string[] {
    return sqliteFiles(this.path);
  }
}
