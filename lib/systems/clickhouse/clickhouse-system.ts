// ClickHouse over HTTP (@clickhouse/client): the contract only. Lab database, one
// MergeTree-family table per container and cell. Bulk = one streaming RowBinary INSERT per
// container (payload bytes sent raw); per-unit INSERT is the same format with one row; DELETE
// is an ALTER … DELETE mutation that returns only once the mutation is done (mutations_sync
// where the server has it, otherwise polling system.mutations). The server is probed on
// connect: capabilities then describe what it really runs, and missing features are
// recorded as degradations (snapshot and size reasons).
// Connecting, retries, error wording: clickhouse-connection.ts; SQL text: clickhouse-sql.ts;
// RowBinary rows: clickhouse-rowbinary.ts; sizes and snapshot: clickhouse-sizes.ts.
import type { ClickHouseClient, ClickHouseSettings } from "@clickhouse/client";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { isAbsolute } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type { LabNamespace } from "../namespace.js";
import {
  OK, notImplemented, recordOf, type Capabilities, type CellContext, type LabSystem, type OpStatus, type RecordValues, type SizeReading, type Unit, type UnitRef,
} from "../contract.js";
import { decodeRecord } from "../../generators/records.js";
import { ClickhouseConnection, type ServerFeatures } from "./clickhouse-connection.js";
import type { ClickhouseOptions } from "./clickhouse-options.js";
import { rowHeader } from "./clickhouse-rowbinary.js";
import { readClickhouseSizes, readClickhouseSnapshot } from "./clickhouse-sizes.js";
import {
  VARIANTS, codecSql, countIdSql, tableRowsSql, createDatabaseSql, createTableSql, deleteSql, dropDatabaseSql, dropTableSql, insertRowBinarySql, labTablesSql, optimizeFinalSql,
  literal, partTotalsSql, pendingMutationsSql, qualified, runningMergesSql, versionAtLeast, type ClickhouseVariant,
} from "./clickhouse-sql.js";
import {
  createTypedTableSql, decodeTypedRows, encodeTypedRow, insertTypedSql, keyCondition, keyValue, selectTypedSql, typedDegradations, typedLayout,
  type TypedLayout,
} from "./clickhouse-typed.js";

const SERVER_DEFAULT_CODEC = "server default (LZ4 unless its <compression> config says otherwise)";

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks).toString("utf8");
}

export class ClickhouseSystem implements LabSystem {
  readonly name = "clickhouse";
  private readonly conn: ClickhouseConnection;
  private features?: ServerFeatures;
  private cell?: CellContext;
  private tables: string[] = [];
  /** The cell tables' data directories as the server names them, where they exist on this machine. */
  private dataPaths: string[] = [];
  private readonly db: string;
  /** The typed cell's table layout (absent: a blob cell). */
  private layout?: TypedLayout;

  constructor(
    private readonly lab: LabNamespace,
    private readonly options: ClickhouseOptions,
    private readonly declared: Capabilities,
  ) {
    this.conn = new ClickhouseConnection(options);
    this.db = lab.sqlName;
  }

  /**
   * The declared capabilities until connect(); then what this server runs: with per-column
   * codecs the `*_zstd` descriptions name the configured level (CODEC(ZSTD(3))); without them
   * (ClickHouse < 19.1) a variant that asks for another codec than LZ4 says it stores with the
   * server's default codec instead.
   */
  get capabilities(): Capabilities {
    const f = this.features;
    if (!f) return this.declared;
    const level = `ZSTD(${this.options.zstdLevel})`;
    const variants = Object.fromEntries(
      Object.entries(this.declared.variants).map(([name, description]) => {
        const codec = VARIANTS[name as ClickhouseVariant]?.codec;
        if (f.codecs) return [name, description.replace("ZSTD(zstdLevel)", level)];
        return [name, codec && codec !== "LZ4" ? `${description} — on ClickHouse ${f.version} (no per-column CODEC before 19.1): payload compressed with the ${SERVER_DEFAULT_CODEC}` : description];
      }),
    );
    const out: Capabilities = { ...this.declared, variants };
    if (this.declared.typed) {
      // What a natural-key duplicate meets depends on the cell's variant: known once prepare() ran.
      const v = this.cell && VARIANTS[this.cell.variant as ClickhouseVariant];
      const typedNotes = this.layout ? typedDegradations(this.layout, f.version) : [];
      out.typed = {
        collision: v?.engine === "ReplacingMergeTree" ? "replaced" : this.cell ? "kept" : this.declared.typed.collision,
        mapping: this.declared.typed.mapping + (typedNotes.length ? ` — on ClickHouse ${f.version}: ${typedNotes.join("; ")}` : ""),
      };
    }
    return out;
  }

  private fail(what: string, e?: unknown) {
    return this.conn.fail(what, e);
  }

  private command(sql: string, what: string, settings?: ClickHouseSettings): Promise<void> {
    return this.conn.command(sql, what, settings);
  }

  private select<T extends Record<string, string | number>>(sql: string, what: string): Promise<T[]> {
    return this.conn.select<T>(sql, what);
  }

  async connect(): Promise<void> {
    if (this.features) return;
    this.features = await this.conn.probe();
  }

  async close(): Promise<void> {
    this.features = undefined;
    await this.conn.close();
  }

  /** The payload codec the cell's tables really use. */
  private codec(): string {
    const wanted = codecSql(VARIANTS[this.variant].codec, this.options.zstdLevel);
    return this.features!.codecs ? wanted : SERVER_DEFAULT_CODEC;
  }

  /** Features this connector would use that the server lacks, and what it does instead. */
  private degradations(): string[] {
    const f = this.features!;
    const out: string[] = [];
    if (!f.codecs && this.cell && VARIANTS[this.variant].codec !== "LZ4") {
      out.push(`CODEC(${VARIANTS[this.variant].codec}) needs ClickHouse ≥ 19.1, server is ${f.version}: payload compressed with the ${this.codec()}`);
    }
    if (!f.settings.mutations_sync) out.push(`mutations_sync unsupported on ${f.version}: DELETE waits by polling system.mutations.is_done`);
    if (!f.settings.insert_deduplicate) out.push(`insert_deduplicate unsupported on ${f.version}: block deduplication cannot be switched off`);
    if (this.layout) out.push(...typedDegradations(this.layout, f.version));
    return out;
  }

  private get insertSettings(): ClickHouseSettings {
    // Replicated tables (and newer MergeTree with a dedup window) drop repeated identical blocks.
    return this.features!.settings.insert_deduplicate ? { insert_deduplicate: 0 } : {};
  }

  // ---- lab objects ----------------------------------------------------------------------

  private get variant(): ClickhouseVariant {
    const v = this.cell!.variant;
    if (!(v in VARIANTS)) throw this.fail(`unknown variant "${v}" — use one of: ${Object.keys(VARIANTS).join(", ")}`);
    return v as ClickhouseVariant;
  }

  async prepare(cell: CellContext): Promise<void> {
    await this.connect();
    this.cell = cell;
    this.tables = Array.from({ length: cell.containers }, (_, c) => this.lab.tableName("units", cell.cellKey, `c${c}`));
    const variant = this.variant;
    const f = this.features!;
    this.layout = cell.typed
      ? typedLayout(cell.typed.schema, cell.typed.keys, { dateTime64: versionAtLeast(f.version, 20, 1), bool: versionAtLeast(f.version, 21, 12) })
      : undefined;
    await this.command(createDatabaseSql(this.db), `create database ${this.db}`);
    for (const t of this.tables) {
      await this.command(dropTableSql(this.db, t), `drop leftover table ${t}`);
      const sql = this.layout
        ? createTypedTableSql(this.db, t, this.layout, VARIANTS[variant].engine, f.codecs ? codecSql(VARIANTS[variant].codec, this.options.zstdLevel) : null)
        : createTableSql(this.db, t, variant, f.codecs, this.options.zstdLevel);
      await this.command(sql, `create table ${t}`);
    }
    this.dataPaths = await this.localDataPaths();
    for (const d of this.degradations()) cell.log(`clickhouse degraded: ${d}`);
  }

  /** system.tables' data directories of the cell's tables that this machine can see (a server on localhost, the chdb bridge). */
  private async localDataPaths(): Promise<string[]> {
    // data_paths is an Array(String) (data_path a String on 18.x): JSONEachRow gives an array, which Row does not type
    const rows = (await this.select(tableRowsSql(this.db, this.tables), "read system.tables")) as unknown as { data_paths?: string[]; data_path?: string }[];
    return rows.flatMap((r) => r.data_paths ?? (r.data_path ? [r.data_path] : [])).filter((p) => p !== "" && isAbsolute(p) && existsSync(p));
  }

  /**
   * For `l3: local`: the cell tables' data directories (parts, inactive parts until the server
   * removes them, and the table's own files), when the server runs on this machine; none otherwise.
   */
  storagePaths(): string[] {
    return [...this.dataPaths];
  }

  async reset(): Promise<void> {
    await this.prepare(this.cell!);
  }

  async cleanup(scope?: string): Promise<void> {
    if (scope) {
      // Only the scope's tables (`units_<cell key or run token>…`); the database goes when it is empty.
      const own = this.lab.tableName("units", scope);
      const tables = (await this.select(labTablesSql(this.db), "list lab tables")).map((r) => String(r.name));
      for (const t of tables.filter((n) => n.startsWith(own))) await this.command(dropTableSql(this.db, t), `drop table ${t}`);
      if (tables.some((n) => !n.startsWith(own))) return;
    }
    await this.command(dropDatabaseSql(this.db), `drop database ${this.db}`);
    this.tables = [];
    this.dataPaths = [];
  }

  // ---- writes ---------------------------------------------------------------------------

  /** One INSERT … FORMAT RowBinary fed from `values`; the response is read and checked. */
  private async insertStream(client: ClickHouseClient, table: string, values: Readable): Promise<void> {
    const query = this.layout ? insertTypedSql(this.db, table, this.layout) : insertRowBinarySql(this.db, table);
    const r = await client.exec({ query, values, clickhouse_settings: this.insertSettings });
    const body = await readAll(r.stream);
    if (r.http_status_code !== undefined && r.http_status_code !== 200) throw new Error(`HTTP ${r.http_status_code}: ${body}`);
    if (/Code: \d+/.test(body)) throw new Error(body);
  }

  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<OpStatus> {
    const client = this.conn.client;
    const inserts = this.tables.map((table) => {
      const values = new PassThrough();
      const done = this.insertStream(client, table, values);
      done.catch(() => {}); // observed below; avoids an unhandled rejection while we write
      return { table, values, done };
    });
    const endedEarly = (s: (typeof inserts)[number]) =>
      s.done.then(() => {
        throw new Error(`server answered the INSERT into ${s.table} before the data ended`);
      });
    try {
      for await (const batch of batches) {
        for (const u of batch) {
          const s = inserts[u.container]!;
          if (this.layout) {
            if (!s.values.write(this.typedRow(u))) await Promise.race([once(s.values, "drain"), endedEarly(s)]);
            continue;
          }
          s.values.write(rowHeader(u));
          if (!s.values.write(u.payload)) await Promise.race([once(s.values, "drain"), endedEarly(s)]);
        }
      }
      for (const s of inserts) s.values.end();
      for (const s of inserts) await s.done;
      return OK;
    } catch (e) {
      // e is the server's answer (a rejected INSERT) or the caller's iterator failing
      for (const s of inserts) s.values.destroy();
      await Promise.allSettled(inserts.map((s) => s.done));
      throw this.fail(`bulk insert into ${this.db}`, e);
    }
  }

  /** A typed cell's RowBinary row of unit `u` (one record). */
  private typedRow(u: Unit): Buffer {
    const layout = this.layout!;
    return encodeTypedRow(layout, u.id, decodeRecord(layout.schema, u.payload));
  }

  async insert(u: Unit): Promise<OpStatus> {
    const table = this.tables[u.container]!;
    if (this.layout) {
      const row = this.typedRow(u);
      const layout = this.layout;
      await this.conn.run(`insert of ${u.id} into ${table}`, async (client, retry) => {
        // surrogate keys: after a dropped connection the first attempt may have landed (natural keys
        // cannot tell a landed first attempt from a legitimate duplicate: no check)
        if (retry && layout.keys === "surrogate" && (await this.rowsWhere(client, table, keyCondition(layout, u.id, literal))) > 0) return;
        await this.insertStream(client, table, Readable.from([row]));
      });
      return OK;
    }
    await this.conn.run(`insert of ${u.id} into ${table}`, async (client, retry) => {
      // after a dropped connection the first attempt may have landed: MergeTree would keep both
      if (retry && (await this.rowsWithId(client, table, u.id)) > 0) return;
      await this.insertStream(client, table, Readable.from([rowHeader(u), u.payload]));
    });
    return OK;
  }

  private async rowsWhere(client: ClickHouseClient, table: string, condition: string): Promise<number> {
    const [r] = await (await client.query({ query: `SELECT count() AS n FROM ${qualified(this.db, table)} WHERE ${condition}`, format: "JSONEachRow" })).json<{ n: string }>();
    return Number(r!.n);
  }

  private async rowsWithId(client: ClickHouseClient, table: string, id: string): Promise<number> {
    const [r] = await (await client.query({ query: countIdSql(this.db, table, id), format: "JSONEachRow" })).json<{ n: string }>();
    return Number(r!.n);
  }

  /** ALTER … DELETE is a mutation: return only when it is done. Rows of a ReplacingMergeTree that
   *  already collapsed into a row with another id are gone under that id, so no row count check. */
  async delete(u: UnitRef): Promise<OpStatus> {
    const table = this.tables[u.container]!;
    const sync = this.features!.settings.mutations_sync;
    let sql = deleteSql(this.db, table, u.id);
    if (this.layout) {
      // natural keys: every row with this unit's key goes (its duplicates share it)
      const key = this.layout.keys === "surrogate" ? u.id : keyValue(this.layout, u.id, recordOf(u, (m) => this.fail(m)).values);
      sql = `ALTER TABLE ${qualified(this.db, table)} DELETE WHERE ${keyCondition(this.layout, key, literal)}`;
    }
    await this.command(sql, `delete of ${u.id} from ${table}`, sync ? { mutations_sync: "2" } : undefined);
    if (!sync) await this.waitForMutations([table], `delete of ${u.id} from ${table}`);
    return OK;
  }

  private async waitForMutations(tables: string[], what: string): Promise<void> {
    const deadline = Date.now() + this.options.mutationTimeoutMs;
    for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
      const [r] = await this.select<{ pending: string }>(pendingMutationsSql(this.db, tables), "poll system.mutations");
      if (Number(r!.pending) === 0) return;
      if (Date.now() > deadline) throw this.fail(`${what}: mutation not done after ${this.options.mutationTimeoutMs} ms (see system.mutations)`);
      await sleep(pause);
    }
  }

  async maintenance(name: string): Promise<OpStatus> {
    if (name !== "optimize_final") throw this.fail(`unknown maintenance "${name}" — use: optimize_final`);
    await this.waitForMutations(this.tables, "OPTIMIZE");
    for (const t of this.tables) await this.optimizeFinal(t);
    return OK;
  }

  /** OPTIMIZE silently does nothing while a background merge holds the parts: repeat until one part is left. */
  private async optimizeFinal(table: string): Promise<void> {
    const activeParts = async () => {
      const totals = await this.select(partTotalsSql(this.db, [table]), "read system.parts");
      return Number(totals.find((r) => Number(r.active) === 1)?.parts ?? 0);
    };
    let parts = 0;
    for (let attempt = 1; attempt <= 20; attempt++) {
      await this.command(optimizeFinalSql(this.db, table), `OPTIMIZE TABLE ${table} FINAL`);
      parts = await activeParts();
      if (parts <= 1) return;
      await sleep(50 * attempt);
    }
    throw this.fail(`OPTIMIZE TABLE ${table} FINAL left ${parts} active parts after 20 attempts (merges blocked?)`);
  }

  // ---- settling ---------------------------------------------------------------------------

  /**
   * Before an "after" size reading (outside every clock): wait until no background merge runs
   * on the cell's tables (system.merges) and no mutation is unfinished (system.mutations
   * is_done = 0), bounded by settleTimeoutMs. Merges that start later (a background merge of
   * small parts may begin at any time) are the runner's stability poll's business.
   */
  async settle(): Promise<OpStatus> {
    if (this.tables.length === 0) return OK;
    // Typed ReplacingMergeTree cells: a natural-key duplicate is replaced only when its parts merge;
    // force that merge, so the records held (storedRecords) no longer depend on background timing.
    if (this.layout && VARIANTS[this.variant].engine === "ReplacingMergeTree") await this.maintenance("optimize_final");
    const bound = this.options.settleTimeoutMs;
    const deadline = Date.now() + bound;
    let merges = 0;
    let pending = 0;
    for (let pause = 5; ; pause = Math.min(pause * 2, 200)) {
      const [m] = await this.select<{ merges: string }>(runningMergesSql(this.db, this.tables), "poll system.merges");
      const [p] = await this.select<{ pending: string }>(pendingMutationsSql(this.db, this.tables), "poll system.mutations");
      merges = Number(m?.merges ?? 0);
      pending = Number(p?.pending ?? 0);
      if (merges === 0 && pending === 0) return OK;
      if (Date.now() >= deadline) break;
      await sleep(pause);
    }
    return notImplemented(
      `ClickHouse ${this.features?.version ?? "?"} still had ${merges} merge(s) and ${pending} unfinished mutation(s) on the cell's tables after ${bound} ms`,
    );
  }

  // ---- typed records ----------------------------------------------------------------------

  /** Rows held in the cell's tables: count() without FINAL — what the parts really store. */
  async storedRecords(): Promise<number | null> {
    if (!this.layout) return null;
    let n = 0;
    for (const t of this.tables) {
      const [r] = await this.select<{ n: string }>(`SELECT count() AS n FROM ${qualified(this.db, t)}`, `count rows of ${t}`);
      n += Number(r!.n);
    }
    return n;
  }

  /** Every row held (no FINAL), read as RowBinary and decoded to the generator's value types. */
  async *readRecords(): AsyncIterable<RecordValues> {
    const layout = this.layout;
    if (!layout) throw this.fail("readRecords: not a typed cell");
    for (const t of this.tables) {
      const body = await this.conn.run(`read records of ${t}`, async (client) => {
        const r = await client.exec({ query: selectTypedSql(this.db, t, layout) });
        const chunks: Buffer[] = [];
        for await (const c of r.stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
        return Buffer.concat(chunks);
      });
      yield* decodeTypedRows(layout, body);
    }
  }

  // ---- sizes and snapshots --------------------------------------------------------------

  async sizes(): Promise<SizeReading[]> {
    // Only a missing codec changes what is stored. The 18.16 typed fallbacks store the bytes the
    // modern types store anyway (DateTime64(6) is an Int64 of µs, Bool a UInt8): logged and in the
    // snapshot, but not a reason that would make every typed size on 18.16 invalid.
    return readClickhouseSizes(this.conn, this.db, this.tables, this.degradations().filter((d) => d.startsWith("CODEC")));
  }

  async snapshot(): Promise<unknown> {
    return readClickhouseSnapshot(this.conn, {
      db: this.db,
      tables: this.tables,
      features: this.features!,
      variant: this.cell?.variant,
      payloadCodec: this.codec(),
      degradations: this.degradations(),
      insertSettings: this.insertSettings,
    });
  }
}
