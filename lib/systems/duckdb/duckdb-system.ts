// DuckDB through @duckdb/node-api: the contract only. One database file per cell; bulk through
// the Appender. Opening the file: duckdb-connection.ts; SQL text: duckdb-sql.ts; sizes and
// snapshot: duckdb-sizes.ts; options, capabilities, definition: duckdb-options.ts.
import { DuckDBBlobValue, type DuckDBConnection, type DuckDBInstance } from "@duckdb/node-api";
import { SystemError } from "../../errors.js";
import type { LabNamespace } from "../namespace.js";
import { OK, type Capabilities, type CellContext, type LabSystem, type OpStatus, type SizeReading, type Unit, type UnitRef } from "../contract.js";
import { closeDuckdb, duckdbFiles, duckdbPath, openDuckdb, removeDuckdbFiles } from "./duckdb-connection.js";
import { readDuckdbSizes, readDuckdbSnapshot } from "./duckdb-sizes.js";
import { createTableSql, deleteSql, insertSql } from "./duckdb-sql.js";

export class DuckdbSystem implements LabSystem {
  readonly name = "duckdb";
  private instance?: DuckDBInstance;
  private conn?: DuckDBConnection;
  private cell?: CellContext;
  private path = "";

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
    return this.lab.tableName("units", `c${container}`);
  }

  async prepare(cell: CellContext): Promise<void> {
    await this.close();
    this.cell = cell;
    this.path = duckdbPath(cell.workDir, this.lab.sqlName);
    ({ instance: this.instance, conn: this.conn } = await openDuckdb(this.path));
    await this.createTables();
  }

  private async createTables(): Promise<void> {
    for (let c = 0; c < this.cell!.containers; c++) await this.conn!.run(createTableSql(this.table(c)));
  }

  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<OpStatus> {
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
    await this.conn!.run(insertSql(this.table(u.container)), [u.id, u.size, blob(u.sha256), blob(u.payload)]);
    return OK;
  }

  async delete(u: UnitRef): Promise<OpStatus> {
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

  async sizes(): Promise<SizeReading[]> {
    return readDuckdbSizes(this.conn!, this.storagePaths());
  }

  async snapshot(): Promise<unknown> {
    return readDuckdbSnapshot(this.conn!, this.table(0));
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
