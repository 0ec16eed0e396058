// DuckDB through @duckdb/node-api: one database file per cell; bulk through the Appender.
import { DuckDBBlobValue, DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { SystemError, errorMessage } from "../../errors.js";
import { blockUsage } from "../../fs-blocks.js";
import type { LabNamespace } from "../namespace.js";
import type { CellContext, LabSystem, SizeReading, SystemDefinition, Unit, UnitRef } from "../contract.js";

const options = z.object({}).strict();

const capabilities = {
  variants: { default: "DuckDB defaults (lightweight compression chosen per column)" },
  maintenance: {
    checkpoint: "FORCE CHECKPOINT: write the WAL into the database file",
    vacuum: "VACUUM then FORCE CHECKPOINT",
  },
  layers: ["L1", "L2"],
  stages: ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"],
  embedded: true,
} satisfies SystemDefinition["capabilities"];

interface DatabaseSize {
  block_size: bigint;
  total_blocks: bigint;
  used_blocks: bigint;
  free_blocks: bigint;
  wal_size: string;
}

class DuckdbSystem implements LabSystem {
  readonly name = "duckdb";
  readonly capabilities = capabilities;
  private instance?: DuckDBInstance;
  private conn?: DuckDBConnection;
  private cell?: CellContext;
  private path = "";

  constructor(private readonly lab: LabNamespace) {}

  async connect(): Promise<void> {}

  async close(): Promise<void> {
    this.conn?.closeSync();
    this.instance?.closeSync();
    this.conn = undefined;
    this.instance = undefined;
  }

  private table(container: number): string {
    return this.lab.tableName("units", `c${container}`);
  }

  async prepare(cell: CellContext): Promise<void> {
    await this.close();
    this.cell = cell;
    this.path = join(cell.workDir, `${this.lab.sqlName}.duckdb`);
    for (const p of this.storagePaths()) rmSync(p, { force: true });
    try {
      this.instance = await DuckDBInstance.create(this.path, { threads: "1" });
      this.conn = await this.instance.connect();
    } catch (e) {
      throw new SystemError("duckdb", this.path, errorMessage(e), { cause: e });
    }
    await this.createTables();
  }

  private async createTables(): Promise<void> {
    for (let c = 0; c < this.cell!.containers; c++) {
      await this.conn!.run(`CREATE TABLE IF NOT EXISTS ${this.table(c)} (id VARCHAR PRIMARY KEY, size UBIGINT NOT NULL, sha256 BLOB NOT NULL, payload BLOB NOT NULL)`);
    }
  }

  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<void> {
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
  }

  async insert(u: Unit): Promise<void> {
    await this.conn!.run(`INSERT INTO ${this.table(u.container)} VALUES ($1, $2, $3, $4)`, [u.id, u.size, blob(u.sha256), blob(u.payload)]);
  }

  async delete(u: UnitRef): Promise<void> {
    const r = await this.conn!.run(`DELETE FROM ${this.table(u.container)} WHERE id = $1`, [u.id]);
    if (r.rowsChanged !== 1) throw new SystemError("duckdb", this.path, `delete of ${u.id} removed ${r.rowsChanged} rows`);
  }

  async maintenance(name: string): Promise<void> {
    if (name === "vacuum") await this.conn!.run("VACUUM");
    else if (name !== "checkpoint") throw new SystemError("duckdb", this.path, `unknown maintenance "${name}"`);
    await this.conn!.run("FORCE CHECKPOINT");
  }

  /** A fresh database file, so the next stage's file-system baseline is not reused free blocks. */
  async reset(): Promise<void> {
    await this.prepare(this.cell!);
  }

  private async databaseSize(): Promise<DatabaseSize> {
    const r = await this.conn!.runAndReadAll("PRAGMA database_size");
    return r.getRowObjects()[0] as unknown as DatabaseSize;
  }

  async sizes(): Promise<SizeReading[]> {
    const s = await this.databaseSize();
    const files = await blockUsage(this.storagePaths());
    return [
      {
        layer: "L1", metric: "duckdb_used_block_bytes", bytes: Number(s.used_blocks * s.block_size), primary: true,
        // Rows written since the last checkpoint live in the WAL, which the block count does not include.
        reason: /^0(\.0+)? ?bytes$/i.test(String(s.wal_size).trim()) ? undefined : `checkpointed blocks only; ${s.wal_size} still in the WAL`,
      },
      { layer: "L1", metric: "duckdb_total_block_bytes", bytes: Number(s.total_blocks * s.block_size) },
      { layer: "L2", metric: "allocated_bytes", bytes: files.allocated, primary: true },
      { layer: "L2", metric: "file_bytes", bytes: files.apparent },
    ];
  }

  async snapshot(): Promise<unknown> {
    const s = await this.databaseSize();
    const version = (await this.conn!.runAndReadAll("SELECT version() AS v")).getRowObjects()[0]!.v;
    const storage = await this.conn!.runAndReadAll(
      `SELECT column_name, compression, count(*) AS segments, sum(count) AS values FROM pragma_storage_info('${this.table(0)}') GROUP BY ALL ORDER BY ALL`,
    );
    return JSON.parse(JSON.stringify({ version, database_size: s, storage_info: storage.getRowObjects() }, (_k, v) => (typeof v === "bigint" ? Number(v) : v)));
  }

  async cleanup(): Promise<void> {
    await this.close();
    for (const p of this.storagePaths()) rmSync(p, { force: true });
  }

  storagePaths(): string[] {
    return this.path ? [this.path, `${this.path}.wal`] : [];
  }
}

/** DuckDB binds bytes as BLOB only through its value wrapper. */
function blob(b: Buffer): DuckDBBlobValue {
  return new DuckDBBlobValue(b);
}

export const duckdbDefinition: SystemDefinition<z.infer<typeof options>> = {
  name: "duckdb",
  description: "DuckDB (embedded, @duckdb/node-api): one BLOB table per container, Appender bulk load",
  capabilities,
  options,
  endpoint: () => "embedded",
  create: (_options, lab) => new DuckdbSystem(lab),
};
