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
import { decodeRecord, type RecordValues } from "../../generators/records.js";
import { OK, notImplemented, recordOf, type Capabilities, type CellContext, type LabSystem, type OpStatus, type SizeReading, type Unit, type UnitRef } from "../contract.js";
import { PgConnection, endpointOf, wireError, type WireOptions } from "./postgres-connection.js";
import { readPostgresSizes, readPostgresSnapshot, type L1Source } from "./postgres-sizes.js";
import {
  COPY_BINARY_HEADER, COPY_BINARY_TRAILER, PG_MAINTENANCE, PG_VARIANTS, copyBinarySql, copyRowPrefix, createTableSql,
  LAB_TABLES_SQL, deleteSql, ident, insertSql, qualify, unitsTableName, unitsTablePrefix, variantProblem, type PgVariant, type ServerInfo,
} from "./postgres-sql.js";
import {
  copyRow, decodeTypedRow, pgTypedLayout, stagingCreateSql, stagingMergeSql, stagingTable, typedCopySql, typedCreateTableSql, typedDeleteSql,
  typedFieldSizesSql, typedInsertSql, typedKey, typedParams, typedSelectSql, type PgFlavour, type PgTypedLayout,
} from "./postgres-typed.js";

const COPY_BUFFER_BYTES = 1 << 20;
/** Natural-key bulk path: staged bytes per container before the staging table is merged and emptied. */
const STAGE_FLUSH_BYTES = 64 << 20;
/** Rows per page when reading typed records back. */
const READ_PAGE_ROWS = 1000;

/** Typed-cell bookkeeping: the layout, and what was written and rejected. */
interface TypedState {
  layout: PgTypedLayout;
  written: number;
  rejected: number;
}

export class PostgresSystem implements LabSystem {
  readonly name: string = "postgres";
  private connection?: PgConnection;
  protected cell?: CellContext;
  /** Things skipped or degraded, with reasons; recorded in every snapshot. */
  protected notes: string[] = [];
  /** Present in a typed cell (cell.typed): the table layout and the collision counts. */
  protected typed?: TypedState;

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

  /** Which typed column types the server takes (CockroachDB: no verbatim json). */
  protected flavour(): PgFlavour {
    return "postgresql";
  }

  protected tableSql(container: number): string[] {
    if (this.typed) {
      const v = this.cell!.variant as PgVariant;
      const compression = this.server.versionNum >= 140000 && v !== "external" ? (v === "lz4" ? "lz4" : "pglz") : null;
      const dedup = v === "hash_index" ? "on" : v === "hash_index_nodedup" ? "off" : null;
      return typedCreateTableSql(this.table(container), this.typed.layout, {
        compression, external: v === "external", ...(dedup ? { digestIndex: { name: this.hashIndexName(container), dedup } } : {}),
      });
    }
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
    this.typed = undefined;
    await this.retrying("preparing the lab namespace", async (c) => {
      const problem = await this.checkVariant(c, cell.variant);
      if (problem) throw this.fail(problem);
      if (cell.typed) {
        const digest = cell.variant === "hash_index" || cell.variant === "hash_index_nodedup";
        this.typed = { layout: pgTypedLayout(cell.typed.schema, cell.typed.keys, this.flavour(), digest), written: 0, rejected: 0 };
      }
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
    if (this.typed) Object.assign(this.typed, { written: 0, rejected: 0 });
  }

  // --- typed cells ----------------------------------------------------------------------------

  protected typedRecord(u: Unit): RecordValues {
    return decodeRecord(this.typed!.layout.schema, u.payload);
  }

  /** Counts written and rejected records (natural keys: ON CONFLICT DO NOTHING) and records the stage's collisions in the notes. */
  protected countTyped(written: number, inserted: number, doing: string): void {
    const t = this.typed!;
    t.written += written;
    t.rejected += written - inserted;
    if (written !== inserted) {
      const note = `${doing}: ${written - inserted} of ${written} records rejected (natural key already stored)`;
      this.cell?.log(note);
    }
  }

  /** Typed bulk: binary COPY per container; natural keys COPY into a temp staging table merged with ON CONFLICT DO NOTHING. */
  protected async typedBulkInsert(batches: AsyncIterable<Unit[]>): Promise<OpStatus> {
    const t = this.typed!;
    const l = t.layout;
    const natural = l.keys === "natural";
    const main = await this.db.client("bulk insert");
    interface Sink { client: pg.Client; container: number; stage: string; stream?: CopyStreamQuery; error?: unknown; staged: number; rows: number }
    const sinks = new Map<number, Sink>();
    let written = 0;
    let inserted = 0;
    const write = async (s: Sink, buf: Buffer) => {
      if (s.error) throw s.error;
      if (!s.stream!.write(buf)) await once(s.stream!, "drain");
    };
    const open = async (s: Sink) => {
      const target = natural ? stagingTable(s.stage) : this.table(s.container);
      const stream = s.client.query(copyFrom(typedCopySql(target, l), { highWaterMark: COPY_BUFFER_BYTES }));
      s.stream = stream;
      s.error = undefined;
      stream.on("error", (e) => (s.error ??= e));
      await write(s, COPY_BINARY_HEADER);
    };
    const close = async (s: Sink) => {
      if (!s.stream) return;
      s.stream.end(COPY_BINARY_TRAILER);
      await finished(s.stream);
      s.stream = undefined;
      if (natural) {
        const r = await s.client.query(stagingMergeSql(s.stage, this.table(s.container), l));
        inserted += r.rowCount ?? 0;
        await s.client.query(`TRUNCATE ${stagingTable(s.stage)}`);
      } else inserted += s.rows;
      s.staged = 0;
      s.rows = 0;
    };
    try {
      for await (const batch of batches) {
        for (const u of batch) {
          let s = sinks.get(u.container);
          if (!s) {
            const client = sinks.size === 0 ? main : await this.db.newClient();
            s = { client, container: u.container, stage: unitsTableName(this.cell!.cellKey, u.container) + "_stage", staged: 0, rows: 0 };
            sinks.set(u.container, s);
            if (natural) {
              await client.query(`DROP TABLE IF EXISTS ${stagingTable(s.stage)}`);
              await client.query(stagingCreateSql(s.stage, this.table(u.container)));
            }
          }
          if (!s.stream) await open(s);
          const row = copyRow(l, u, this.typedRecord(u));
          await write(s, row);
          s.staged += row.length;
          s.rows++;
          written++;
          if (natural && s.staged >= STAGE_FLUSH_BYTES) await close(s);
        }
      }
      for (const s of sinks.values()) await close(s);
      if (natural) for (const s of sinks.values()) await s.client.query(`DROP TABLE IF EXISTS ${stagingTable(s.stage)}`);
      this.countTyped(written, inserted, "bulk insert (binary COPY" + (natural ? " via staging, ON CONFLICT DO NOTHING)" : ")"));
      return OK;
    } catch (e) {
      for (const s of sinks.values()) s.stream?.destroy();
      this.db.noteIfLost(e);
      throw wireError(this.name, this.o, "typed bulk insert (COPY)", e);
    } finally {
      for (const s of sinks.values()) if (s.client !== main) await s.client.end().catch(() => {});
    }
  }

  /** One typed record: INSERT (natural keys: ON CONFLICT DO NOTHING, a collision is counted as rejected). */
  protected async typedInsert(u: Unit): Promise<OpStatus> {
    const l = this.typed!.layout;
    const params = typedParams(l, u, this.typedRecord(u));
    const r = await this.once(`inserting ${u.id}`, (c) =>
      c.query({ name: `dedup_lab_tins_${this.cell!.cellKey}_c${u.container}`, text: typedInsertSql(this.table(u.container), l), values: params }),
    );
    this.countTyped(1, r.rowCount ?? 0, `insert of ${u.id}`);
    return OK;
  }

  /** Deletes the unit's row by the key the cell uses; natural keys: a duplicate whose record was already deleted finds nothing. */
  protected async typedDelete(u: UnitRef): Promise<OpStatus> {
    const t = this.typed!;
    const natural = t.layout.keys === "natural";
    const record = natural ? recordOf(u, (m) => this.fail(m)) : undefined;
    const key = record ? typedKey(t.layout, u, record.values) : u.id;
    const r = await this.once(`deleting ${u.id}`, (c) =>
      c.query({ name: `dedup_lab_tdel_${this.cell!.cellKey}_c${u.container}`, text: typedDeleteSql(this.table(u.container), t.layout), values: [key] }),
    );
    const already = record?.repeatInContainer === true && r.rowCount === 0;
    if (r.rowCount !== 1 && !already) throw this.fail(`delete of ${u.id} (key ${key}) from ${this.table(u.container)} removed ${r.rowCount} rows (expected 1)`);
    return OK;
  }

  async storedRecords(): Promise<number | null> {
    if (!this.typed) return null;
    return this.retrying("counting records", async (c) => {
      let n = 0;
      for (let k = 0; k < this.cell!.containers; k++) n += Number((await c.query(`SELECT count(*) AS n FROM ${this.table(k)}`)).rows[0].n);
      return n;
    });
  }

  async *readRecords(): AsyncIterable<RecordValues> {
    const t = this.typed;
    if (!t) throw this.fail("readRecords: not a typed cell");
    for (let k = 0; k < this.cell!.containers; k++) {
      let after: string | undefined;
      for (;;) {
        const rows = await this.retrying(`reading records of ${this.table(k)}`, async (c) =>
          (await c.query(typedSelectSql(this.table(k), t.layout, READ_PAGE_ROWS, after !== undefined), after === undefined ? [] : [after])).rows as Record<string, unknown>[],
        );
        for (const r of rows) yield decodeTypedRow(t.layout, r);
        if (rows.length < READ_PAGE_ROWS) break;
        after = String(rows[rows.length - 1]!._lab_pk);
      }
    }
  }

  /** L1 of a typed cell: the field columns' stored and raw bytes. */
  protected typedL1(): L1Source | undefined {
    const l = this.typed?.layout;
    return l && { sql: (table) => typedFieldSizesSql(table, l), stored: "pg_column_size_fields", raw: "octet_length_fields" };
  }

  /** Binary COPY, one stream per container (its own connection beyond the first); socket back-pressure is respected. */
  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<OpStatus> {
    if (this.typed) return this.typedBulkInsert(batches);
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
    if (this.typed) return this.typedInsert(u);
    await this.once(`inserting ${u.id}`, (c) =>
      c.query({ name: `dedup_lab_ins_${this.cell!.cellKey}_c${u.container}`, text: insertSql(this.table(u.container)), values: [u.id, u.size, u.sha256, u.payload] }),
    );
    return OK;
  }

  async delete(u: UnitRef): Promise<OpStatus> {
    if (this.typed) return this.typedDelete(u);
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
    return this.retrying("reading sizes", (c) => readPostgresSizes(c, this.lab.sqlName, this.o.database, unitsTablePrefix(this.cell!.cellKey), this.typedL1()));
  }

  async snapshot(): Promise<unknown> {
    return this.retrying("reading the snapshot", (c) =>
      readPostgresSnapshot(c, {
        schema: this.lab.sqlName,
        database: this.o.database,
        server: this.server,
        namespaceKind: this.namespaceKind(),
        notes: this.typedNotes(),
        reconnects: this.reconnects,
        describe: (e) => wireError(this.name, this.o, "", e).message,
      }),
    );
  }

  /** The notes, with a typed cell's layout and collision counts first. */
  protected typedNotes(): string[] {
    const t = this.typed;
    if (!t) return this.notes;
    const l = t.layout;
    return [
      `typed cell: schema ${l.schema.name}, keys ${l.keys} (primary key ${l.keyColumn ? "_lab_key text" : l.fieldColumns[l.pkField]}); ${t.written} records written, ${t.rejected} rejected as natural-key duplicates since the last reset`,
      ...this.notes,
    ];
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
