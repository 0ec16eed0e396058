// DuckDB through @duckdb/node-api: the contract only. One database file per cell; bulk through
// the Appender. Opening the file: duckdb-connection.ts; SQL text: duckdb-sql.ts; sizes and
// snapshot: duckdb-sizes.ts; options, capabilities, definition: duckdb-options.ts.
import { DuckDBBlobValue, type DuckDBAppender, type DuckDBConnection, type DuckDBInstance, type DuckDBPreparedStatement } from "@duckdb/node-api";
import { SystemError } from "../../errors.js";
import { decodeRecord, type RecordValues } from "../../generators/records.js";
import type { LabNamespace } from "../namespace.js";
import { OK, recordOf, type Capabilities, type CellContext, type LabSystem, type OpStatus, type SizeReading, type Unit, type UnitRef } from "../contract.js";
import { closeDuckdb, duckdbFiles, duckdbPath, openDuckdb, removeDuckdbFiles } from "./duckdb-connection.js";
import { readDuckdbSizes, readDuckdbSnapshot } from "./duckdb-sizes.js";
import { createTableSql, deleteSql, insertSql } from "./duckdb-sql.js";
import { DuckdbTypedLayout, type DuckdbKey } from "./duckdb-typed.js";

export class DuckdbSystem implements LabSystem {
  readonly name = "duckdb";
  private instance?: DuckDBInstance;
  private conn?: DuckDBConnection;
  private cell?: CellContext;
  private path = "";
  /** Typed cells: the table layout, prepared statements, collisions met. */
  private typed?: DuckdbTypedLayout;
  private typedInserts: DuckDBPreparedStatement[] = [];
  private typedDeletes: DuckDBPreparedStatement[] = [];
  private rejected = 0;

  constructor(
    private readonly lab: LabNamespace,
    readonly capabilities: Capabilities,
  ) {}

  async connect(): Promise<void> {}

  async close(): Promise<void> {
    closeDuckdb({ conn: this.conn, instance: this.instance });
    this.conn = undefined;
    this.instance = undefined;
  }

  private table(container: number): string {
    return this.lab.tableName(this.cell?.typed ? "records" : "units", `c${container}`);
  }

  private staging(container: number): string {
    return this.lab.tableName("staging", `c${container}`);
  }

  async prepare(cell: CellContext): Promise<void> {
    await this.close();
    this.cell = cell;
    this.path = duckdbPath(cell.workDir, this.lab.sqlName);
    ({ instance: this.instance, conn: this.conn } = await openDuckdb(this.path));
    this.typed = cell.typed ? new DuckdbTypedLayout(cell.typed.schema, cell.typed.keys) : undefined;
    this.rejected = 0;
    await this.createTables();
  }

  private async createTables(): Promise<void> {
    const l = this.typed;
    this.typedInserts = [];
    this.typedDeletes = [];
    for (let c = 0; c < this.cell!.containers; c++) {
      const t = this.table(c);
      await this.conn!.run(l ? l.createSql(t) : createTableSql(t));
      if (!l) continue;
      this.typedInserts.push(await this.conn!.prepare(l.insertSql(t)));
      this.typedDeletes.push(await this.conn!.prepare(l.deleteSql(t)));
    }
  }

  /** A typed unit's record and the key it is stored under. */
  private record(u: Unit): { key: DuckdbKey; values: RecordValues } {
    const l = this.typed!;
    const values = decodeRecord(l.schema, u.payload);
    return { key: l.keyValue(u.index, values, u.sha256), values };
  }

  /**
   * Typed bulk: surrogate cells through the Appender into the table; natural cells through the
   * Appender into a TEMP staging table, moved per batch with INSERT … SELECT … ON CONFLICT DO NOTHING
   * (the Appender has no ON CONFLICT), rejected duplicates counted as staged − inserted.
   */
  private async typedBulkInsert(batches: AsyncIterable<Unit[]>): Promise<OpStatus> {
    const l = this.typed!;
    const conn = this.conn!;
    const containers = this.cell!.containers;
    const natural = l.keys === "natural";
    if (natural) for (let c = 0; c < containers; c++) await conn.run(l.createStagingSql(this.staging(c)));
    const appenders: DuckDBAppender[] = [];
    try {
      for (let c = 0; c < containers; c++) {
        appenders.push(natural ? await conn.createAppender(this.staging(c), "main", "temp") : await conn.createAppender(this.table(c)));
      }
      for await (const batch of batches) {
        const staged = new Array<number>(containers).fill(0);
        for (const u of batch) {
          const { key, values } = this.record(u);
          l.appendRow(appenders[u.container]!, key, values);
          staged[u.container]!++;
        }
        for (const a of appenders) a.flushSync();
        if (!natural) continue;
        for (let c = 0; c < containers; c++) {
          if (staged[c] === 0) continue;
          const r = await conn.run(l.moveStagingSql(this.table(c), this.staging(c)));
          this.rejected += staged[c]! - Number(r.rowsChanged);
          await conn.run(`DELETE FROM temp.main.${this.staging(c)}`);
        }
      }
    } finally {
      for (const a of appenders) a.closeSync();
      if (natural) for (let c = 0; c < containers; c++) await conn.run(`DROP TABLE IF EXISTS temp.main.${this.staging(c)}`);
    }
    return OK;
  }

  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<OpStatus> {
    if (this.typed) return this.typedBulkInsert(batches);
    const appenders = await Promise.all(
      Array.from({ length: this.cell!.containers }, (_, c) => this.conn!.createAppender(this.table(c))),
    );
    try {
      for await (const batch of batches) {
        for (const u of batch) {
          const a = appenders[u.container]!;
          a.appendVarchar(u.id);
          a.appendUBigInt(BigInt(u.size));
          a.appendBlob(u.sha256);
          a.appendBlob(u.payload);
          a.endRow();
        }
        for (const a of appenders) a.flushSync();
      }
    } finally {
      for (const a of appenders) a.closeSync();
    }
    return OK;
  }

  async insert(u: Unit): Promise<OpStatus> {
    if (this.typed) {
      const { key, values } = this.record(u);
      const p = this.typedInserts[u.container]!;
      this.typed.bindRow(p, key, values);
      const r = await p.run();
      if (Number(r.rowsChanged) === 0) this.rejected++;
      return OK;
    }
    await this.conn!.run(insertSql(this.table(u.container)), [u.id, u.size, blob(u.sha256), blob(u.payload)]);
    return OK;
  }

  /**
   * Surrogate cells delete the unit's row by its index. Natural cells delete the record under the
   * ref's natural key: a repeat of a record already deleted finds nothing.
   */
  async delete(u: UnitRef): Promise<OpStatus> {
    if (this.typed) {
      const fail = (m: string) => new SystemError("duckdb", this.path, m);
      const record = this.typed.keys === "natural" ? recordOf(u, fail) : undefined;
      const p = this.typedDeletes[u.container]!;
      this.typed.bindKey(p, this.typed.keyValue(u.index, record?.values ?? [], u.sha256));
      const n = Number((await p.run()).rowsChanged);
      const expected = record?.repeatInContainer ? 0 : 1;
      if (n !== expected) throw fail(`delete of ${u.id} removed ${n} rows (expected ${expected})`);
      return OK;
    }
    const r = await this.conn!.run(deleteSql(this.table(u.container)), [u.id]);
    if (r.rowsChanged !== 1) throw new SystemError("duckdb", this.path, `delete of ${u.id} removed ${r.rowsChanged} rows`);
    return OK;
  }

  /** Write the WAL into the database file: DuckDB's block counts only cover checkpointed data. */
  async settle(): Promise<OpStatus> {
    await this.conn!.run("CHECKPOINT");
    return OK;
  }

  async maintenance(name: string): Promise<OpStatus> {
    if (name === "vacuum") await this.conn!.run("VACUUM");
    else if (name !== "checkpoint") throw new SystemError("duckdb", this.path, `unknown maintenance "${name}"`);
    await this.conn!.run("FORCE CHECKPOINT");
    return OK;
  }

  /** A fresh database file, so the next stage's file-system baseline is not reused free blocks. */
  async reset(): Promise<void> {
    await this.prepare(this.cell!);
  }

  /** Typed cells: rows of the typed tables (count(*)). */
  async storedRecords(): Promise<number | null> {
    if (!this.typed) return null;
    let n = 0;
    for (let c = 0; c < this.cell!.containers; c++) {
      n += Number((await this.conn!.runAndReadAll(`SELECT count(*) AS n FROM ${this.table(c)}`)).getRows()[0]![0]);
    }
    return n;
  }

  /** Typed cells: every row of every typed table, decoded back to the schema's values. */
  async *readRecords(): AsyncIterable<RecordValues> {
    if (!this.typed) throw new SystemError("duckdb", this.path, "readRecords: not a typed cell");
    for (let c = 0; c < this.cell!.containers; c++) yield* this.typed.read(this.conn!, this.table(c));
  }

  async sizes(): Promise<SizeReading[]> {
    return readDuckdbSizes(this.conn!, this.storagePaths());
  }

  async snapshot(): Promise<unknown> {
    const s = (await readDuckdbSnapshot(this.conn!, this.table(0))) as Record<string, unknown>;
    if (!this.typed) return s;
    return { ...s, typed: { keys: this.typed.keys, rejected_duplicates: this.rejected } };
  }

  async cleanup(): Promise<void> {
    await this.close();
    removeDuckdbFiles(this.path);
  }

  storagePaths(): string[] {
    return duckdbFiles(this.path);
  }
}

/** DuckDB binds bytes as BLOB only through its value wrapper. */
function blob(b: Buffer): DuckDBBlobValue {
  return new DuckDBBlobValue(b);
}
