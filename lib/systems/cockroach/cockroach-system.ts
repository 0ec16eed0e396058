// CockroachDB over the PostgreSQL wire protocol: the postgres connector with what differs
// overridden (Kysely-style). TLS verify-full by default; lab *database*; bulk by multi-row
// INSERT (COPY needs the admin role); no VACUUM: maintenance waits for MVCC GC (and compacts);
// sizes are span statistics. On a PostgreSQL server (the local TLS stand-in) the CockroachDB-only
// parts are skipped with recorded reasons and the data path runs in the lab schema instead.
import type pg from "pg";
import { z } from "zod";
import type { LabNamespace } from "../namespace.js";
import type { Capabilities, CellContext, SizeReading, SystemDefinition, Unit } from "../contract.js";
import { endpointOf, isConnectionLost, sleep, sslOptions, wireError, wireOptionsShape } from "../postgres/postgres-connection.js";
import { unitsTableName } from "../postgres/postgres-sql.js";
import { PostgresSystem } from "../postgres/postgres-system.js";
import {
  CRDB_MAINTENANCE, CRDB_VARIANTS, SPAN_STATS_SQL, STORES_SQL, TABLE_SPAN_STATS_SQL, chunkForInsert, compactSql,
  createDatabaseSql, createTableSql, crdbTable, dropDatabaseSql, gcSettled, gcTtlSql, multiRowInsertSql,
  multiRowInsertValues, rangesDetailsSql, showZoneSql, type CrdbVariant,
} from "./cockroach-sql.js";

const options = z
  .object({
    ...wireOptionsShape,
    port: wireOptionsShape.port.default(26257),
    database: wireOptionsShape.database.default("defaultdb"),
    // prefault: the default goes through validation, so a missing caFile is reported.
    ssl: sslOptions.prefault({ mode: "verify-full" }),
    /** Optional; when set it must be the lab database name (checked before connecting). */
    labDatabase: z.string().optional(),
    /** gc.ttlseconds of the lab database's zone, set in prepare so deleted versions become collectable soon. */
    gcTtlSeconds: z.coerce.number().int().min(1).default(60),
    /** Upper bound of the gc_wait maintenance. */
    gcWaitSeconds: z.coerce.number().int().min(1).default(900),
    gcPollSeconds: z.coerce.number().min(0.1).default(5),
    /** Multi-row INSERT limits for the bulk path. */
    insertMaxRows: z.coerce.number().int().min(1).max(16000).default(500),
    insertMaxBytes: z.coerce.number().int().min(1024).default(4 * 1024 * 1024),
  })
  .strict();
export type CockroachOptions = z.infer<typeof options>;

const capabilities = {
  variants: CRDB_VARIANTS,
  maintenance: CRDB_MAINTENANCE,
  layers: ["L1", "L2"],
  stages: ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"],
  embedded: false,
  appReplicas: 1,
} satisfies Capabilities;

type Row = Record<string, unknown>;
const num = (v: unknown): number => Number(v ?? 0);

class CockroachSystem extends PostgresSystem {
  override readonly name = "cockroach";
  override readonly capabilities: Capabilities = capabilities;

  constructor(private readonly co: CockroachOptions, lab: LabNamespace) {
    super(co, lab);
  }

  private get isCrdb(): boolean {
    return this.server.kind === "cockroachdb";
  }

  private notCrdb(): string {
    return `not CockroachDB (server is ${this.server.display})`;
  }

  protected override namespaceKind(): "schema" | "database" {
    return this.isCrdb ? "database" : "schema";
  }

  protected override table(container: number): string {
    return this.isCrdb ? crdbTable(this.lab.sqlName, unitsTableName(container)) : super.table(container);
  }

  protected override namespaceDropSql(): string {
    return this.isCrdb ? dropDatabaseSql(this.lab.sqlName) : super.namespaceDropSql();
  }

  protected override namespaceCreateSql(): string[] {
    return this.isCrdb ? [createDatabaseSql(this.lab.sqlName), gcTtlSql(this.lab.sqlName, this.co.gcTtlSeconds)] : super.namespaceCreateSql();
  }

  protected override tableSql(container: number): string[] {
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
  override async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<void> {
    for await (const batch of batches) {
      const byContainer = new Map<number, Unit[]>();
      for (const u of batch) {
        const list = byContainer.get(u.container);
        if (list) list.push(u);
        else byContainer.set(u.container, [u]);
      }
      for (const [container, units] of byContainer) {
        for (const chunk of chunkForInsert(units, this.co.insertMaxRows, this.co.insertMaxBytes)) {
          await this.once("bulk insert (multi-row INSERT)", (c) => c.query(multiRowInsertSql(this.table(container), chunk.length), multiRowInsertValues(chunk)));
        }
      }
    }
  }

  override async maintenance(name: string): Promise<void> {
    if (!(name in CRDB_MAINTENANCE)) throw this.fail(`unknown maintenance "${name}" — use one of: ${Object.keys(CRDB_MAINTENANCE).join(", ")}`);
    if (!this.isCrdb) {
      const note = `maintenance ${name} not run (no MVCC GC or Pebble compaction to wait for): ${this.notCrdb()}`;
      this.notes.push(note);
      this.cell?.log(note);
      return;
    }
    await this.waitForGc();
    if (name === "compact") {
      await this.once("compact", async (c) => {
        const stores = (await c.query(STORES_SQL)).rows as Row[];
        for (const s of stores) await c.query(compactSql(this.lab.sqlName), [num(s.node_id), num(s.store_id)]);
        this.notes.push(`compacted the lab span on ${stores.length} store(s)`);
      });
    }
  }

  /** Poll span stats until garbage (total − live) is gone, or give up after gcWaitSeconds and record it. */
  private async waitForGc(): Promise<void> {
    const read = () => this.retrying("waiting for MVCC GC", (c) => this.tryCrdb(c, SPAN_STATS_SQL, [this.lab.sqlName]));
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

  /** Runs a CockroachDB-only query; any failure but a lost connection becomes a reason. */
  private async tryCrdb(c: pg.Client, sql: string, params: unknown[] = []): Promise<{ rows?: Row[]; reason?: string }> {
    if (!this.isCrdb) return { reason: this.notCrdb() };
    try {
      return { rows: (await c.query(sql, params)).rows as Row[] };
    } catch (e) {
      if (isConnectionLost(e)) throw e;
      return { reason: wireError(this.name, this.o, "", e).message };
    }
  }

  override async sizes(): Promise<SizeReading[]> {
    return this.retrying("reading sizes", async (c) => {
      const span = await this.tryCrdb(c, SPAN_STATS_SQL, [this.lab.sqlName]);
      const ranges = await this.tryCrdb(c, rangesDetailsSql(this.lab.sqlName));
      const pick = (r: { rows?: Row[]; reason?: string }, k: string) =>
        r.rows ? { bytes: num(r.rows[0]?.[k]) } : { bytes: null, reason: r.reason };
      return [
        { layer: "L1", metric: "live_bytes", ...pick(span, "live_bytes"), primary: true },
        { layer: "L1", metric: "total_bytes", ...pick(span, "total_bytes") },
        { layer: "L1", metric: "show_ranges_range_size", ...pick(ranges, "range_size") },
        { layer: "L2", metric: "approximate_disk_bytes", ...pick(span, "approximate_disk_bytes"), primary: true },
        { layer: "L2", metric: "show_ranges_approximate_disk_bytes", ...pick(ranges, "approximate_disk_bytes") },
      ] satisfies SizeReading[];
    });
  }

  override async snapshot(): Promise<unknown> {
    return this.retrying("reading the snapshot", async (c) => {
      const tables = await this.tryCrdb(c, TABLE_SPAN_STATS_SQL, [this.lab.sqlName]);
      const zone = await this.tryCrdb(c, showZoneSql(this.lab.sqlName));
      const ranges = await this.tryCrdb(c, rangesDetailsSql(this.lab.sqlName));
      return {
        server: this.server,
        namespace: { kind: this.namespaceKind(), name: this.lab.sqlName, connectedTo: this.o.database },
        gc_ttl_seconds_requested: this.co.gcTtlSeconds,
        zone_configuration: zone.rows ?? { unavailable: zone.reason },
        table_span_stats: tables.rows ?? { unavailable: tables.reason },
        ranges: ranges.rows?.[0] ?? { unavailable: ranges.reason },
        notes: this.notes,
        reconnects: this.reconnects,
      };
    });
  }
}

export const cockroachDefinition: SystemDefinition<CockroachOptions> = {
  name: "cockroach",
  description: "CockroachDB (pg wire, TLS verify-full): lab database, multi-row INSERT bulk, MVCC GC/compaction maintenance, span-stats sizes",
  capabilities,
  options,
  checkNamespace: (o, lab) => lab.requireLabSql("cockroach", "labDatabase", o.labDatabase),
  endpoint: (o) => endpointOf(o),
  create: (o, lab) => new CockroachSystem(o, lab),
};
