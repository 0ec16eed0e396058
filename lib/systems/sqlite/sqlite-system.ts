// SQLite through better-sqlite3: one database file per cell, one table per container.
import Database from "better-sqlite3";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { SystemError, errorMessage } from "../../errors.js";
import { blockUsage } from "../../fs-blocks.js";
import type { LabNamespace } from "../namespace.js";
import type { CellContext, LabSystem, SizeReading, SystemDefinition, Unit, UnitRef } from "../contract.js";

const options = z.object({}).strict();

const capabilities = {
  variants: { rollback: "rollback journal (SQLite default)", wal: "write-ahead log (journal_mode=WAL)" },
  maintenance: { vacuum: "VACUUM: rebuild the file, returning free pages to the file system" },
  layers: ["L1", "L2"],
  stages: ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"],
  embedded: true,
} satisfies SystemDefinition["capabilities"];

class SqliteSystem implements LabSystem {
  readonly name = "sqlite";
  readonly capabilities = capabilities;
  private db?: Database.Database;
  private cell?: CellContext;
  private path = "";
  private insertStmts: Database.Statement[] = [];
  private deleteStmts: Database.Statement[] = [];

  constructor(private readonly lab: LabNamespace) {}

  async connect(): Promise<void> {}

  async close(): Promise<void> {
    this.db?.close();
    this.db = undefined;
  }

  private table(container: number): string {
    return this.lab.tableName("units", `c${container}`);
  }

  async prepare(cell: CellContext): Promise<void> {
    await this.close();
    this.cell = cell;
    this.path = join(cell.workDir, `${this.lab.sqlName}.sqlite`);
    for (const p of this.storagePaths()) rmSync(p, { force: true });
    try {
      this.db = new Database(this.path);
    } catch (e) {
      throw new SystemError("sqlite", this.path, errorMessage(e), { cause: e });
    }
    this.db.pragma(`journal_mode = ${cell.variant === "wal" ? "WAL" : "DELETE"}`);
    this.createTables();
  }

  private createTables(): void {
    const db = this.db!;
    this.insertStmts = [];
    this.deleteStmts = [];
    for (let c = 0; c < this.cell!.containers; c++) {
      const t = this.table(c);
      db.exec(`CREATE TABLE IF NOT EXISTS ${t} (id TEXT PRIMARY KEY, size INTEGER NOT NULL, sha256 BLOB NOT NULL, payload BLOB NOT NULL)`);
      this.insertStmts.push(db.prepare(`INSERT INTO ${t} (id, size, sha256, payload) VALUES (?, ?, ?, ?)`));
      this.deleteStmts.push(db.prepare(`DELETE FROM ${t} WHERE id = ?`));
    }
  }

  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<void> {
    const db = this.db!;
    const writeBatch = db.transaction((units: Unit[]) => {
      for (const u of units) this.insertStmts[u.container]!.run(u.id, u.size, u.sha256, u.payload);
    });
    for await (const batch of batches) writeBatch(batch);
  }

  async insert(u: Unit): Promise<void> {
    this.insertStmts[u.container]!.run(u.id, u.size, u.sha256, u.payload);
  }

  async delete(u: UnitRef): Promise<void> {
    const r = this.deleteStmts[u.container]!.run(u.id);
    if (r.changes !== 1) throw new SystemError("sqlite", this.path, `delete of ${u.id} removed ${r.changes} rows`);
  }

  async maintenance(name: string): Promise<void> {
    if (name !== "vacuum") throw new SystemError("sqlite", this.path, `unknown maintenance "${name}"`);
    this.db!.exec("VACUUM");
    if (this.cell?.variant === "wal") this.db!.pragma("wal_checkpoint(TRUNCATE)");
  }

  /** A fresh database file, so the next stage's file-system baseline is not a reused free list. */
  async reset(): Promise<void> {
    await this.prepare(this.cell!);
  }

  private pragmaNumber(name: string): number {
    return Number(this.db!.pragma(name, { simple: true }));
  }

  async sizes(): Promise<SizeReading[]> {
    const pageSize = this.pragmaNumber("page_size");
    const pages = this.pragmaNumber("page_count");
    const free = this.pragmaNumber("freelist_count");
    const files = await blockUsage(this.storagePaths());
    return [
      { layer: "L1", metric: "sqlite_used_page_bytes", bytes: (pages - free) * pageSize, primary: true },
      { layer: "L1", metric: "sqlite_page_bytes", bytes: pages * pageSize },
      { layer: "L2", metric: "allocated_bytes", bytes: files.allocated, primary: true },
      { layer: "L2", metric: "file_bytes", bytes: files.apparent },
    ];
  }

  async snapshot(): Promise<unknown> {
    const db = this.db!;
    const rows: Record<string, number> = {};
    for (let c = 0; c < this.cell!.containers; c++) {
      rows[this.table(c)] = Number((db.prepare(`SELECT count(*) AS n FROM ${this.table(c)}`).get() as { n: number }).n);
    }
    return {
      sqlite_version: (db.prepare("SELECT sqlite_version() AS v").get() as { v: string }).v,
      page_size: this.pragmaNumber("page_size"),
      page_count: this.pragmaNumber("page_count"),
      freelist_count: this.pragmaNumber("freelist_count"),
      journal_mode: db.pragma("journal_mode", { simple: true }),
      rows,
    };
  }

  async cleanup(): Promise<void> {
    await this.close();
    for (const p of this.storagePaths()) rmSync(p, { force: true });
  }

  storagePaths(): string[] {
    return this.path ? [this.path, `${this.path}-wal`, `${this.path}-shm`, `${this.path}-journal`] : [];
  }
}

export const sqliteDefinition: SystemDefinition<z.infer<typeof options>> = {
  name: "sqlite",
  description: "SQLite (embedded, better-sqlite3): one BLOB table per container",
  capabilities,
  options,
  endpoint: () => "embedded",
  create: (_options, lab) => new SqliteSystem(lab),
};
