// CockroachDB over the PostgreSQL wire protocol: the postgres connector with what differs
// overridden (Kysely-style). TLS verify-full by default; lab *database*; bulk by multi-row
// INSERT (COPY needs the admin role); no VACUUM: maintenance waits for MVCC GC (and compacts);
// sizes are span statistics (cockroach-sizes.ts). On a PostgreSQL server (the local TLS
// stand-in) the CockroachDB-only parts are skipped with recorded reasons, the data path runs
// in the lab schema instead, and maintenance answers not implemented.
import type pg from "pg";
import type { LabNamespace } from "../namespace.js";
import { OK, notImplemented, type Capabilities, type CellContext, type OpStatus, type SizeReading, type Unit } from "../contract.js";
import { ident } from "../postgres/postgres-sql.js";
import { maxRowsPerInsert, typedCreateTableSql, typedInsertSql, typedParams, type PgFlavour } from "../postgres/postgres-typed.js";
import { PostgresSystem } from "../postgres/postgres-system.js";
import { sleep } from "../reconnect.js";
import { tryCrdb, type CrdbAnswer } from "./cockroach-connection.js";
import type { CockroachOptions } from "./cockroach-options.js";
import { readCockroachSizes, readCockroachSnapshot } from "./cockroach-sizes.js";
import {
  CRDB_MAINTENANCE, CRDB_VARIANTS, SPAN_STATS_SQL, STORES_SQL, chunkForInsert, compactSql, createDatabaseSql, createTableSql,
  crdbTable, dropDatabaseSql, gcSettled, gcTtlSql, multiRowInsertSql, multiRowInsertValues, type CrdbVariant,
} from "./cockroach-sql.js";

type Row = Record<string, unknown>;
const num = (v: unknown): number => Number(v ?? 0);

export class CockroachSystem extends PostgresSystem {
  override readonly name = "cockroach";

  constructor(
    private readonly co: CockroachOptions,
    lab: LabNamespace,
    capabilities: Capabilities,
  ) {
    super(co, lab, capabilities);
  }

  private get isCrdb(): boolean {
    return this.server.kind === "cockroachdb";
  }

  private notCrdb(): string {
    return `not CockroachDB (server is ${this.server.display})`;
  }

  /** Why CockroachDB-only statements are skipped, or null on CockroachDB. */
  private skipCrdb(): string | null {
    return this.isCrdb ? null : this.notCrdb();
  }

  protected override namespaceKind(): "schema" | "database" {
    return this.isCrdb ? "database" : "schema";
  }

  protected override table(container: number): string {
    return this.isCrdb ? this.labTable(this.tableName(container)) : super.table(container);
  }

  protected override labTable(name: string): string {
    return this.isCrdb ? crdbTable(this.lab.sqlName, name) : super.labTable(name);
  }

  protected override async labTables(c: pg.Client): Promise<string[]> {
    if (!this.isCrdb) return super.labTables(c);
    try {
      const r = await c.query(`SELECT table_name AS name FROM ${ident(this.lab.sqlName)}.information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`);
      return r.rows.map((x: { name: string }) => x.name);
    } catch (e) {
      if ((e as { code?: string }).code === "3D000") return []; // no lab database: nothing to drop
      throw e;
    }
  }

  protected override namespaceDropSql(cascade = true): string {
    return this.isCrdb ? dropDatabaseSql(this.lab.sqlName, cascade) : super.namespaceDropSql(cascade);
  }

  protected override namespaceCreateSql(): string[] {
    return this.isCrdb ? [createDatabaseSql(this.lab.sqlName), gcTtlSql(this.lab.sqlName, this.co.gcTtlSeconds)] : super.namespaceCreateSql();
  }

  /** CockroachDB's JSON is JSONB (not verbatim): json fields become STRING there; the stand-in keeps PostgreSQL's json. */
  protected override flavour(): PgFlavour {
    return this.isCrdb ? "cockroachdb" : "postgresql";
  }

  protected override tableSql(container: number): string[] {
    if (this.typed) {
      const digestIndex = this.typed.layout.digest ? { digestIndex: { name: this.hashIndexName(container), dedup: null } } : {};
      return typedCreateTableSql(this.table(container), this.typed.layout, { compression: null, external: false, ...digestIndex });
    }
    return createTableSql(this.table(container), this.cell!.variant as CrdbVariant, this.hashIndexName(container));
  }

  protected override async checkVariant(_c: pg.Client, variant: string): Promise<string | null> {
    return variant in CRDB_VARIANTS ? null : `unknown variant "${variant}" — use one of: ${Object.keys(CRDB_VARIANTS).join(", ")}`;
  }

  override async prepare(cell: CellContext): Promise<void> {
    await super.prepare(cell);
    if (!this.isCrdb) {
      // A PostgreSQL lab role on a shared cluster has no CREATEDB; the lab schema stands in for the lab database.
      this.notes.push(`lab database "${this.lab.sqlName}" replaced by schema "${this.lab.sqlName}" in database "${this.o.database}": ${this.notCrdb()}`);
      this.notes.push(`zone configuration (gc.ttlseconds = ${this.co.gcTtlSeconds}) skipped: ${this.notCrdb()}`);
    }
  }

  /** Multi-row INSERT statements per container, bounded in rows and bytes (memory stays at one batch). */
  override async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<OpStatus> {
    if (this.typed) return this.typedMultiRowInsert(batches);
    for await (const batch of batches) {
      for (const [container, units] of byContainer(batch)) {
        for (const chunk of chunkForInsert(units, this.co.insertMaxRows, this.co.insertMaxBytes)) {
          await this.once("bulk insert (multi-row INSERT)", (c) => c.query(multiRowInsertSql(this.table(container), chunk.length), multiRowInsertValues(chunk)));
        }
      }
    }
    return OK;
  }

  /** Typed bulk: multi-row INSERTs of typed columns per container (natural keys: ON CONFLICT DO NOTHING, rejected rows counted). */
  private async typedMultiRowInsert(batches: AsyncIterable<Unit[]>): Promise<OpStatus> {
    const l = this.typed!.layout;
    const maxRows = Math.min(this.co.insertMaxRows, maxRowsPerInsert(l));
    let written = 0;
    let inserted = 0;
    for await (const batch of batches) {
      for (const [container, units] of byContainer(batch)) {
        for (const chunk of chunkForInsert(units, maxRows, this.co.insertMaxBytes)) {
          const params = chunk.flatMap((u) => typedParams(l, u, this.typedRecord(u)));
          const r = await this.once("typed bulk insert (multi-row INSERT)", (c) => c.query(typedInsertSql(this.table(container), l, chunk.length), params));
          written += chunk.length;
          inserted += r.rowCount ?? 0;
        }
      }
    }
    this.countTyped(written, inserted, "bulk insert (multi-row INSERT" + (l.keys === "natural" ? ", ON CONFLICT DO NOTHING)" : ")"));
    return OK;
  }

  /** CockroachDB has no CHECKPOINT: its LSM flushes on its own; the runner's stability poll waits for sizes to stop moving. */
  override async settle(): Promise<OpStatus> {
    if (!this.isCrdb) return super.settle();
    return notImplemented("CockroachDB has no checkpoint statement; span stats are read once they stop changing");
  }

  override async maintenance(name: string): Promise<OpStatus> {
    if (!(name in CRDB_MAINTENANCE)) throw this.fail(`unknown maintenance "${name}" — use one of: ${Object.keys(CRDB_MAINTENANCE).join(", ")}`);
    if (!this.isCrdb) {
      // Not a valid 0 s stage: the stand-in has nothing this operation could wait for or compact.
      const note = `maintenance ${name} not run (the PostgreSQL stand-in has no MVCC GC/compaction to wait for): ${this.notCrdb()}`;
      this.notes.push(note);
      this.cell?.log(note);
      return notImplemented(note);
    }
    await this.waitForGc();
    if (name === "compact") {
      await this.once("compact", async (c) => {
        const stores = (await c.query(STORES_SQL)).rows as Row[];
        for (const s of stores) await c.query(compactSql(this.lab.sqlName), [num(s.node_id), num(s.store_id)]);
        this.notes.push(`compacted the lab span on ${stores.length} store(s)`);
      });
    }
    return OK;
  }

  /** Poll span stats until garbage (total − live) is gone, or give up after gcWaitSeconds and record it. */
  private async waitForGc(): Promise<void> {
    const read = (): Promise<CrdbAnswer> => this.retrying("waiting for MVCC GC", (c) => tryCrdb(c, this.o, this.skipCrdb(), SPAN_STATS_SQL, [this.lab.sqlName]));
    const probe = await read();
    if (!probe.rows) {
      // Without span stats GC cannot be observed: wait out the TTL (bounded) and say so.
      const secs = Math.min(this.co.gcTtlSeconds, this.co.gcWaitSeconds);
      this.notes.push(`gc_wait could not observe GC (${probe.reason}); waited gc.ttlseconds = ${secs} s instead`);
      await sleep(secs * 1000);
      return;
    }
    const first = probe.rows[0]!;
    const initial = Math.max(0, num(first.total_bytes) - num(first.live_bytes));
    const deadline = Date.now() + this.co.gcWaitSeconds * 1000;
    let cur = first;
    while (!gcSettled(initial, num(cur.live_bytes), num(cur.total_bytes))) {
      if (Date.now() >= deadline) {
        const note = `gc_wait gave up after ${this.co.gcWaitSeconds} s: ${num(cur.total_bytes) - num(cur.live_bytes)} of ${initial} garbage bytes left`;
        this.notes.push(note);
        this.cell?.log(note);
        return;
      }
      await sleep(this.co.gcPollSeconds * 1000);
      const next = await read();
      if (!next.rows) throw this.fail(`gc_wait: span statistics became unavailable: ${next.reason}`);
      cur = next.rows[0]!;
    }
    this.notes.push(`gc_wait: garbage ${initial} → ${Math.max(0, num(cur.total_bytes) - num(cur.live_bytes))} bytes`);
  }

  override async sizes(): Promise<SizeReading[]> {
    return this.retrying("reading sizes", (c) => readCockroachSizes(c, this.o, this.skipCrdb(), this.lab.sqlName));
  }

  override async snapshot(): Promise<unknown> {
    return this.retrying("reading the snapshot", (c) =>
      readCockroachSnapshot(c, this.o, this.skipCrdb(), {
        database: this.lab.sqlName,
        connectedTo: this.o.database,
        server: this.server,
        namespaceKind: this.namespaceKind(),
        gcTtlSeconds: this.co.gcTtlSeconds,
        notes: this.typedNotes(),
        reconnects: this.reconnects,
      }),
    );
  }
}

/** A batch's units by the container (table) they go to, in order of first appearance. */
function byContainer(batch: Unit[]): Map<number, Unit[]> {
  const out = new Map<number, Unit[]>();
  for (const u of batch) {
    const list = out.get(u.container);
    if (list) list.push(u);
    else out.set(u.container, [u]);
  }
  return out;
}
