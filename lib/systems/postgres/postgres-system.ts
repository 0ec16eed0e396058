// PostgreSQL through pg + pg-copy-streams: lab schema, one table per container, bulk via
// binary COPY, per-unit INSERT/DELETE, VACUUM / VACUUM FULL, sizes from the catalog and
// pgstattuple. The cockroach connector extends this class and overrides what differs.
import { once } from "node:events";
import { finished } from "node:stream/promises";
import pg from "pg";
import { from as copyFrom, type CopyStreamQuery } from "pg-copy-streams";
import { z } from "zod";
import { SystemError } from "../../errors.js";
import type { LabNamespace } from "../namespace.js";
import type { Capabilities, CellContext, LabSystem, SizeReading, SystemDefinition, Unit, UnitRef } from "../contract.js";
import {
  clientConfig, endpointOf, isConnectionLost, sleep, sslOptions, wireError, wireOptionsShape, type WireOptions,
} from "./postgres-connection.js";
import {
  COPY_BINARY_HEADER, COPY_BINARY_TRAILER, PG_MAINTENANCE, PG_VARIANTS, RELATION_SIZES_SQL, SNAPSHOT_SETTINGS,
  copyBinarySql, copyRowPrefix, createTableSql, deleteSql, ident, insertSql, parseServerVersion, payloadSizesSql,
  pgstatindexSql, pgstattupleSql, qualify, unitsTableName, variantProblem, type PgVariant, type ServerInfo,
} from "./postgres-sql.js";

const options = z
  .object({
    ...wireOptionsShape,
    port: wireOptionsShape.port.default(5432),
    database: wireOptionsShape.database.default("postgres"),
    ssl: sslOptions.default({ mode: "disable" }),
    /** Optional; when set it must be the lab schema (checked before connecting). */
    schema: z.string().optional(),
  })
  .strict();
export type PostgresOptions = z.infer<typeof options>;

const capabilities = {
  variants: PG_VARIANTS,
  maintenance: PG_MAINTENANCE,
  layers: ["L1", "L2"],
  stages: ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"],
  embedded: false,
  appReplicas: 1,
} satisfies Capabilities;

const COPY_BUFFER_BYTES = 1 << 20;

type Row = Record<string, unknown>;
const num = (v: unknown): number => Number(v ?? 0);

export class PostgresSystem implements LabSystem {
  readonly name: string = "postgres";
  readonly capabilities: Capabilities = capabilities;
  protected conn?: pg.Client;
  protected broken = true;
  protected cell?: CellContext;
  protected server: ServerInfo & { versionNum: number } = { kind: "unknown", version: "", display: "", versionNum: 0 };
  /** Things skipped or degraded, with reasons; recorded in every snapshot. */
  protected notes: string[] = [];
  protected reconnects: { doing: string; error: string }[] = [];
  /** Why the current connection was lost (set by its error/end events), until reopened. */
  private lost?: string;

  constructor(protected readonly o: WireOptions, protected readonly lab: LabNamespace) {}

  protected get endpoint(): string {
    return endpointOf(this.o);
  }

  protected fail(message: string): SystemError {
    return new SystemError(this.name, this.endpoint, message);
  }

  // --- connection handling -------------------------------------------------------------

  protected async newClient(): Promise<pg.Client> {
    const c = new pg.Client(clientConfig(this.name, this.o));
    // An idle client that loses its socket emits 'error'; without a listener that would crash the run.
    c.on("error", (e) => {
      if (c !== this.conn) return;
      this.broken = true;
      this.lost = wireError(this.name, this.o, "", e).message;
    });
    await c.connect();
    return c;
  }

  private async open(): Promise<void> {
    const old = this.conn;
    this.conn = undefined;
    old?.end().catch(() => {});
    const c = await this.newClient();
    try {
      const v = await c.query("SELECT version() AS v");
      const n = await c.query("SHOW server_version_num");
      this.server = { ...parseServerVersion(String(v.rows[0].v)), versionNum: num(Object.values(n.rows[0] as Row)[0]) };
    } catch (e) {
      await c.end().catch(() => {});
      throw e;
    }
    c.on("end", () => {
      if (c !== this.conn) return;
      this.broken = true;
      this.lost ??= "connection ended";
    });
    this.conn = c;
    this.broken = false;
  }

  /** A live client: reopens a dropped connection with bounded exponential backoff. */
  protected async client(doing: string): Promise<pg.Client> {
    if (this.conn && !this.broken) return this.conn;
    if (this.lost) this.reconnects.push({ doing, error: this.lost });
    this.lost = undefined;
    const { attempts, baseDelayMs } = this.o.reconnect;
    for (let k = 0; ; k++) {
      try {
        await this.open();
        return this.conn!;
      } catch (e) {
        if (!isConnectionLost(e) || k >= attempts) throw wireError(this.name, this.o, k > 0 ? `${doing} (after ${k + 1} connection attempts)` : doing, e);
        this.reconnects.push({ doing, error: wireError(this.name, this.o, "", e).message });
        await sleep(baseDelayMs * 2 ** k);
      }
    }
  }

  /** Run an idempotent call; a dropped connection is reopened and the call retried (bounded). */
  protected async retrying<T>(doing: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const { attempts, baseDelayMs } = this.o.reconnect;
    for (let k = 0; ; k++) {
      const c = await this.client(doing);
      try {
        return await fn(c);
      } catch (e) {
        if (!isConnectionLost(e) || k >= attempts) throw wireError(this.name, this.o, doing, e);
        this.broken = true;
        this.lost = wireError(this.name, this.o, "", e).message;
        await sleep(baseDelayMs * 2 ** k);
      }
    }
  }

  /** Run a measured, non-idempotent call once (reconnecting first if the connection was lost). */
  protected async once<T>(doing: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = await this.client(doing);
    try {
      return await fn(c);
    } catch (e) {
      this.noteIfLost(e);
      throw wireError(this.name, this.o, doing, e);
    }
  }

  protected noteIfLost(err: unknown): void {
    if (!isConnectionLost(err)) return;
    this.broken = true;
    this.lost ??= wireError(this.name, this.o, "", err).message;
  }

  async connect(): Promise<void> {
    await this.client("connecting");
  }

  async close(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    this.broken = true;
    await c?.end().catch(() => {});
  }

  // --- names and DDL (overridden by cockroach) -------------------------------------------

  /** The lab namespace as the server sees it: the schema here. */
  protected namespaceKind(): "schema" | "database" {
    return "schema";
  }

  protected table(container: number): string {
    return qualify(this.lab.sqlName, unitsTableName(container));
  }

  protected hashIndexName(container: number): string {
    return this.lab.tableName(unitsTableName(container), "sha256");
  }

  protected namespaceDropSql(): string {
    return `DROP SCHEMA IF EXISTS ${ident(this.lab.sqlName)} CASCADE`;
  }

  protected namespaceCreateSql(): string[] {
    return [`CREATE SCHEMA ${ident(this.lab.sqlName)}`];
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
      await c.query(this.namespaceDropSql());
      for (const s of this.namespaceCreateSql()) await c.query(s);
      await this.createTables(c);
    });
  }

  protected async createTables(c: pg.Client): Promise<void> {
    for (let k = 0; k < this.cell!.containers; k++) {
      for (const s of this.tableSql(k)) await c.query(s);
    }
  }

  async reset(): Promise<void> {
    await this.retrying("resetting the lab tables", async (c) => {
      for (let k = 0; k < this.cell!.containers; k++) await c.query(`DROP TABLE IF EXISTS ${this.table(k)}`);
      await this.createTables(c);
    });
  }

  /** Binary COPY, one stream per container (its own connection beyond the first); socket back-pressure is respected. */
  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<void> {
    const main = await this.client("bulk insert");
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
            const client = streams.size === 0 ? main : await this.newClient();
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
    } catch (e) {
      for (const s of streams.values()) s.stream.destroy();
      this.noteIfLost(e);
      throw wireError(this.name, this.o, "bulk insert (COPY)", e);
    } finally {
      for (const s of streams.values()) if (s.client !== main) await s.client.end().catch(() => {});
    }
  }

  async insert(u: Unit): Promise<void> {
    await this.once(`inserting ${u.id}`, (c) =>
      c.query({ name: `dedup_lab_ins_c${u.container}`, text: insertSql(this.table(u.container)), values: [u.id, u.size, u.sha256, u.payload] }),
    );
  }

  async delete(u: UnitRef): Promise<void> {
    const r = await this.once(`deleting ${u.id}`, (c) =>
      c.query({ name: `dedup_lab_del_c${u.container}`, text: deleteSql(this.table(u.container)), values: [u.id] }),
    );
    if (r.rowCount !== 1) throw this.fail(`delete of ${u.id} from ${this.table(u.container)} removed ${r.rowCount} rows (expected 1)`);
  }

  async maintenance(name: string): Promise<void> {
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
  }

  /** CHECKPOINT so that sizes and the files below them agree; needs pg_checkpoint (15+) or superuser. */
  protected async checkpoint(c: pg.Client): Promise<void> {
    try {
      await c.query("CHECKPOINT");
    } catch (e) {
      if ((e as { code?: string }).code !== "42501") throw e;
      const note = `CHECKPOINT not permitted for ${this.o.user} (grant pg_checkpoint on PostgreSQL 15+): sizes read without a checkpoint`;
      this.notes.push(note);
      this.cell?.log(note);
    }
  }

  // --- sizes and snapshots ------------------------------------------------------------------

  /** Schema of the pgstattuple extension, or a reason why it cannot be used. */
  private async pgstattupleSchema(c: pg.Client): Promise<{ schema?: string; reason?: string }> {
    const r = await c.query("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pgstattuple'");
    if (r.rowCount === 0) return { reason: `pgstattuple extension not installed in database "${this.o.database}" (an admin can run CREATE EXTENSION pgstattuple)` };
    return { schema: String(r.rows[0].nspname) };
  }

  async sizes(): Promise<SizeReading[]> {
    return this.retrying("reading sizes", async (c) => {
      const rels = (await c.query(RELATION_SIZES_SQL, [this.lab.sqlName])).rows as Row[];
      const sum = (k: string) => rels.reduce((a, r) => a + num(r[k]), 0);
      let stored = 0;
      let raw = 0;
      for (const r of rels) {
        const p = (await c.query(payloadSizesSql(qualify(this.lab.sqlName, String(r.relname))))).rows[0] as Row;
        stored += num(p.stored);
        raw += num(p.raw);
      }
      const tuple = await this.pgstattupleTotals(c, rels);
      return [
        { layer: "L1", metric: "pg_column_size_payload", bytes: stored, primary: true },
        { layer: "L1", metric: "octet_length_payload", bytes: raw },
        { layer: "L1", metric: "pgstattuple_tuple_len", bytes: tuple.live, ...(tuple.reason ? { reason: tuple.reason } : {}) },
        { layer: "L2", metric: "pg_total_relation_size", bytes: sum("total_bytes"), primary: true },
        { layer: "L2", metric: "pg_table_size", bytes: sum("table_bytes") },
        { layer: "L2", metric: "pg_indexes_size", bytes: sum("index_bytes") },
        { layer: "L2", metric: "toast_total_size", bytes: sum("toast_bytes") },
        { layer: "L2", metric: "pgstattuple_dead_tuple_len", bytes: tuple.dead, ...(tuple.reason ? { reason: tuple.reason } : {}) },
        { layer: "L2", metric: "pgstattuple_free_space", bytes: tuple.free, ...(tuple.reason ? { reason: tuple.reason } : {}) },
      ] satisfies SizeReading[];
    });
  }

  /** Live, dead and free bytes of the heaps and their TOAST relations, or nulls with a reason. */
  private async pgstattupleTotals(c: pg.Client, rels: Row[]): Promise<{ live: number | null; dead: number | null; free: number | null; reason?: string }> {
    const ext = await this.pgstattupleSchema(c);
    if (!ext.schema) return { live: null, dead: null, free: null, reason: ext.reason };
    let live = 0;
    let dead = 0;
    let free = 0;
    try {
      for (const r of rels) {
        // By OID: naming pg_toast.* would need USAGE on schema pg_toast.
        for (const relid of [r.relid, r.toast_relid]) {
          if (relid === null) continue;
          const t = (await c.query(pgstattupleSql(ext.schema), [String(relid)])).rows[0] as Row;
          live += num(t.tuple_len);
          dead += num(t.dead_tuple_len);
          free += num(t.free_space);
        }
      }
    } catch (e) {
      if ((e as { code?: string }).code !== "42501") throw e;
      return { live: null, dead: null, free: null, reason: `pgstattuple: ${(e as Error).message} (the lab role needs pg_stat_scan_tables)` };
    }
    return { live, dead, free };
  }

  async snapshot(): Promise<unknown> {
    return this.retrying("reading the snapshot", async (c) => {
      const schema = this.lab.sqlName;
      const q = async (sql: string, params: unknown[] = [schema]) => (await c.query(sql, params)).rows as Row[];
      const compression = this.server.versionNum >= 140000 ? "a.attcompression" : "NULL";
      const indexes = await q("SELECT i.indexname, i.tablename, i.indexdef, c.reloptions FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = i.schemaname WHERE i.schemaname = $1 ORDER BY i.indexname");
      const ext = await this.pgstattupleSchema(c);
      const pgstatindex: Row[] = [];
      if (ext.schema) {
        for (const ix of indexes) {
          try {
            const r = await q(pgstatindexSql(ext.schema), [qualify(schema, String(ix.indexname))]);
            pgstatindex.push({ index: ix.indexname, ...r[0] });
          } catch (e) {
            pgstatindex.push({ index: ix.indexname, error: wireError(this.name, this.o, "", e).message });
          }
        }
      }
      return {
        server: this.server,
        namespace: { kind: this.namespaceKind(), name: schema, database: this.o.database },
        settings: await q("SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1) ORDER BY name", [SNAPSHOT_SETTINGS]),
        relations: await q(RELATION_SIZES_SQL),
        columns: await q(`SELECT c.relname, a.attname, a.attstorage, ${compression} AS attcompression FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum`),
        indexes,
        pgstatindex: ext.schema ? pgstatindex : { unavailable: ext.reason },
        pg_stat_user_tables: await q("SELECT * FROM pg_stat_user_tables WHERE schemaname = $1 ORDER BY relname"),
        pg_statio_user_tables: await q("SELECT * FROM pg_statio_user_tables WHERE schemaname = $1 ORDER BY relname"),
        notes: this.notes,
        reconnects: this.reconnects,
      };
    });
  }

  async cleanup(): Promise<void> {
    await this.retrying("cleaning up the lab namespace", (c) => c.query(this.namespaceDropSql()));
  }
}

export const postgresDefinition: SystemDefinition<PostgresOptions> = {
  name: "postgres",
  description: "PostgreSQL (pg, binary COPY): lab schema, one bytea table per container, TOAST/index variants",
  capabilities,
  options,
  checkNamespace: (o, lab) => lab.requireLabSql("postgres", "schema", o.schema),
  endpoint: (o) => endpointOf(o),
  create: (o, lab) => new PostgresSystem(o, lab),
};
