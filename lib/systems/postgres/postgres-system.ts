// PostgreSQL through pg + pg-copy-streams: the contract only. Lab schema, one table per
// container, bulk via binary COPY, per-unit INSERT/DELETE, VACUUM / VACUUM FULL. Connecting
// and reconnects: postgres-connection.ts; SQL text: postgres-sql.ts; sizes and snapshot:
// postgres-sizes.ts; options, capabilities and the definition: postgres-options.ts. The
// cockroach connector extends this class and overrides what differs.
import { once } from "node:events";
import { finished } from "node:stream/promises";
import type pg from "pg";
import { from as copyFrom, type CopyStreamQuery } from "pg-copy-streams";
import { SystemError } from "../../errors.js";
import type { LabNamespace } from "../namespace.js";
import { OK, notImplemented, type Capabilities, type CellContext, type LabSystem, type OpStatus, type SizeReading, type Unit, type UnitRef } from "../contract.js";
import { PgConnection, endpointOf, wireError, type WireOptions } from "./postgres-connection.js";
import { readPostgresSizes, readPostgresSnapshot } from "./postgres-sizes.js";
import {
  COPY_BINARY_HEADER, COPY_BINARY_TRAILER, PG_MAINTENANCE, PG_VARIANTS, copyBinarySql, copyRowPrefix, createTableSql,
  LAB_TABLES_SQL, deleteSql, ident, insertSql, qualify, unitsTableName, unitsTablePrefix, variantProblem, type PgVariant, type ServerInfo,
} from "./postgres-sql.js";

const COPY_BUFFER_BYTES = 1 << 20;

export class PostgresSystem implements LabSystem {
  readonly name: string = "postgres";
  private connection?: PgConnection;
  protected cell?: CellContext;
  /** Things skipped or degraded, with reasons; recorded in every snapshot. */
  protected notes: string[] = [];

  constructor(
    protected readonly o: WireOptions,
    protected readonly lab: LabNamespace,
    readonly capabilities: Capabilities,
  ) {}

  /** The connection, created on first use (so a subclass's name is already set). */
  protected get db(): PgConnection {
    return (this.connection ??= new PgConnection(this.name, this.o));
  }

  protected get endpoint(): string {
    return endpointOf(this.o);
  }

  /** What the server said it is on the last (re)connect. */
  protected get server(): ServerInfo & { versionNum: number } {
    return this.db.server;
  }

  protected get reconnects(): { doing: string; error: string }[] {
    return this.db.reconnects;
  }

  protected fail(message: string): SystemError {
    return new SystemError(this.name, this.endpoint, message);
  }

  protected retrying<T>(doing: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    return this.db.retrying(doing, fn);
  }

  protected once<T>(doing: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    return this.db.once(doing, fn);
  }

  async connect(): Promise<void> {
    await this.db.client("connecting");
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  // --- names and DDL (overridden by cockroach) -------------------------------------------

  /** The lab namespace as the server sees it: the schema here. */
  protected namespaceKind(): "schema" | "database" {
    return "schema";
  }

  /** The cell's table of a container, unqualified: `units_<cell key>_c<k>`. */
  protected tableName(container: number): string {
    return unitsTableName(this.cell!.cellKey, container);
  }

  protected table(container: number): string {
    return qualify(this.lab.sqlName, this.tableName(container));
  }

  protected hashIndexName(container: number): string {
    return this.lab.tableName(this.tableName(container), "sha256");
  }

  /** Drops the lab namespace; without `cascade` only when it is empty (the server refuses otherwise). */
  protected namespaceDropSql(cascade = true): string {
    return `DROP SCHEMA IF EXISTS ${ident(this.lab.sqlName)}${cascade ? " CASCADE" : ""}`;
  }

  protected namespaceCreateSql(): string[] {
    return [`CREATE SCHEMA IF NOT EXISTS ${ident(this.lab.sqlName)}`];
  }

  /** Names of the tables in the lab namespace (none when it does not exist). */
  protected async labTables(c: pg.Client): Promise<string[]> {
    return (await c.query(LAB_TABLES_SQL, [this.lab.sqlName])).rows.map((r: { name: string }) => r.name);
  }

  /** A lab table by its unqualified name. */
  protected labTable(name: string): string {
    return qualify(this.lab.sqlName, name);
  }

  protected tableSql(container: number): string[] {
    return createTableSql(this.table(container), this.cell!.variant as PgVariant, this.server.versionNum, this.hashIndexName(container));
  }

  /** Why this server cannot run the cell's variant, or null. */
  protected async checkVariant(c: pg.Client, variant: string): Promise<string | null> {
    if (!(variant in PG_VARIANTS)) return `unknown variant "${variant}" — use one of: ${Object.keys(PG_VARIANTS).join(", ")}`;
    const r = await c.query("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'");
    const vals = r.rows[0]?.enumvals;
    return variantProblem(variant as PgVariant, this.server.versionNum, Array.isArray(vals) ? vals.map(String) : []);
  }

  // --- stages -------------------------------------------------------------------------------

  async prepare(cell: CellContext): Promise<void> {
    this.cell = cell;
    this.notes = [];
    await this.retrying("preparing the lab namespace", async (c) => {
      const problem = await this.checkVariant(c, cell.variant);
      if (problem) throw this.fail(problem);
      // The namespace is shared by every cell and run; only this cell's own tables are replaced.
      for (const s of this.namespaceCreateSql()) await c.query(s);
      await this.createTables(c);
    });
  }

  /** This cell's tables, dropped (leftovers of an earlier attempt of the same cell) and created. */
  protected async createTables(c: pg.Client): Promise<void> {
    for (let k = 0; k < this.cell!.containers; k++) {
      await c.query(`DROP TABLE IF EXISTS ${this.table(k)}`);
      for (const s of this.tableSql(k)) await c.query(s);
    }
  }

  async reset(): Promise<void> {
    await this.retrying("resetting the lab tables", (c) => this.createTables(c));
  }

  /** Binary COPY, one stream per container (its own connection beyond the first); socket back-pressure is respected. */
  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<OpStatus> {
    const main = await this.db.client("bulk insert");
    const streams = new Map<number, { client: pg.Client; stream: CopyStreamQuery; error?: unknown }>();
    const write = async (s: { stream: CopyStreamQuery; error?: unknown }, buf: Buffer) => {
      if (s.error) throw s.error;
      if (!s.stream.write(buf)) await once(s.stream, "drain");
    };
    try {
      for await (const batch of batches) {
        for (const u of batch) {
          let s = streams.get(u.container);
          if (!s) {
            const client = streams.size === 0 ? main : await this.db.newClient();
            // A 1 MiB buffer lets the next row queue while the socket drains; memory stays bounded by it.
            const stream = client.query(copyFrom(copyBinarySql(this.table(u.container)), { highWaterMark: COPY_BUFFER_BYTES }));
            s = { client, stream };
            const entry = s;
            stream.on("error", (e) => (entry.error ??= e));
            streams.set(u.container, s);
            await write(s, COPY_BINARY_HEADER);
          }
          await write(s, copyRowPrefix(u));
          await write(s, u.payload);
        }
      }
      for (const s of streams.values()) s.stream.end(COPY_BINARY_TRAILER);
      await Promise.all([...streams.values()].map((s) => finished(s.stream)));
      return OK;
    } catch (e) {
      for (const s of streams.values()) s.stream.destroy();
      this.db.noteIfLost(e);
      throw wireError(this.name, this.o, "bulk insert (COPY)", e);
    } finally {
      for (const s of streams.values()) if (s.client !== main) await s.client.end().catch(() => {});
    }
  }

  async insert(u: Unit): Promise<OpStatus> {
    await this.once(`inserting ${u.id}`, (c) =>
      c.query({ name: `dedup_lab_ins_${this.cell!.cellKey}_c${u.container}`, text: insertSql(this.table(u.container)), values: [u.id, u.size, u.sha256, u.payload] }),
    );
    return OK;
  }

  async delete(u: UnitRef): Promise<OpStatus> {
    const r = await this.once(`deleting ${u.id}`, (c) =>
      c.query({ name: `dedup_lab_del_${this.cell!.cellKey}_c${u.container}`, text: deleteSql(this.table(u.container)), values: [u.id] }),
    );
    if (r.rowCount !== 1) throw this.fail(`delete of ${u.id} from ${this.table(u.container)} removed ${r.rowCount} rows (expected 1)`);
    return OK;
  }

  async maintenance(name: string): Promise<OpStatus> {
    if (!(name in PG_MAINTENANCE)) throw this.fail(`unknown maintenance "${name}" — use one of: ${Object.keys(PG_MAINTENANCE).join(", ")}`);
    await this.once(name, async (c) => {
      for (let k = 0; k < this.cell!.containers; k++) {
        const t = this.table(k);
        if (name === "vacuum") await c.query(`VACUUM (ANALYZE) ${t}`);
        else {
          await c.query(`VACUUM FULL ${t}`);
          await c.query(`REINDEX TABLE ${t}`);
        }
      }
      await this.checkpoint(c);
    });
    return OK;
  }

  /** Before every "after" reading: dirty buffers written and the WAL checkpointed, so relation files hold every row. */
  async settle(): Promise<OpStatus> {
    let note: string | null = null;
    await this.once("settling (CHECKPOINT)", async (c) => {
      note = await this.checkpoint(c);
    });
    return note === null ? OK : notImplemented(note);
  }

  /** CHECKPOINT so that sizes and the files below them agree; needs pg_checkpoint (15+) or superuser. Returns why not, or null. */
  protected async checkpoint(c: pg.Client): Promise<string | null> {
    try {
      await c.query("CHECKPOINT");
      return null;
    } catch (e) {
      if ((e as { code?: string }).code !== "42501") throw e;
      const note = `CHECKPOINT not permitted for ${this.o.user} (grant pg_checkpoint on PostgreSQL 15+): sizes read without a checkpoint`;
      this.notes.push(note);
      this.cell?.log(note);
      return note;
    }
  }

  // --- sizes and snapshots ------------------------------------------------------------------

  async sizes(): Promise<SizeReading[]> {
    return this.retrying("reading sizes", (c) => readPostgresSizes(c, this.lab.sqlName, this.o.database, unitsTablePrefix(this.cell!.cellKey)));
  }

  async snapshot(): Promise<unknown> {
    return this.retrying("reading the snapshot", (c) =>
      readPostgresSnapshot(c, {
        schema: this.lab.sqlName,
        database: this.o.database,
        server: this.server,
        namespaceKind: this.namespaceKind(),
        notes: this.notes,
        reconnects: this.reconnects,
        describe: (e) => wireError(this.name, this.o, "", e).message,
      }),
    );
  }

  async cleanup(scope?: string): Promise<void> {
    if (!scope) {
      await this.retrying("cleaning up the lab namespace", (c) => c.query(this.namespaceDropSql()));
      return;
    }
    await this.retrying(`cleaning up the lab tables of ${scope}`, async (c) => {
      const own = unitsTablePrefix(scope);
      for (const t of await this.labTables(c)) if (t.startsWith(own)) await c.query(`DROP TABLE IF EXISTS ${this.labTable(t)}`);
      // The namespace goes too once no cell of any run has a table left in it.
      try {
        await c.query(this.namespaceDropSql(false));
      } catch (e) {
        if ((e as { code?: string }).code !== "2BP01") throw e; // dependent objects: another cell's tables
      }
    });
  }
}
