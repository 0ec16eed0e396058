// ClickHouse over HTTP (@clickhouse/client): lab database, one MergeTree-family table per
// container and cell. Bulk = one streaming RowBinary INSERT per container (payload bytes
// sent raw); per-unit INSERT is the same format with one row; DELETE is an ALTER … DELETE
// mutation that returns only once the mutation is done (mutations_sync where the server has
// it, otherwise polling system.mutations). The server version is probed on connect and
// missing features are recorded as degradations (snapshot and size reasons).
//
// Sizes from active system.parts: L1 primary = data_uncompressed_bytes, L2 primary =
// bytes_on_disk; data_compressed_bytes, system.columns sums and the on-disk bytes of parts
// that merges replaced but the server has not removed yet (old_parts_lifetime) beside them.
import { ClickHouseLogLevel, createClient, type ClickHouseClient, type ClickHouseSettings } from "@clickhouse/client";
import { once } from "node:events";
import { PassThrough, Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { SystemError, errorMessage } from "../../errors.js";
import type { LabNamespace } from "../namespace.js";
import type { CellContext, LabSystem, SizeReading, SystemDefinition, Unit, UnitRef } from "../contract.js";
import { AUTH_ERROR_CODES, parseServerError } from "./clickhouse-errors.js";
import { rowHeader } from "./clickhouse-rowbinary.js";
import {
  PROBED_SETTINGS,
  VARIANTS,
  columnsSql,
  countIdSql,
  createDatabaseSql,
  createTableSql,
  deleteSql,
  dropDatabaseSql,
  dropTableSql,
  insertRowBinarySql,
  mutationsSql,
  optimizeFinalSql,
  partTotalsSql,
  partsSql,
  pendingMutationsSql,
  settingsSql,
  tablesSql,
  versionAtLeast,
  type ClickhouseVariant,
} from "./clickhouse-sql.js";

const options = z
  .object({
    host: z.string().default("127.0.0.1"),
    /** HTTP(S) port. */
    port: z.coerce.number().int().min(1).max(65535).default(8123),
    protocol: z.enum(["http", "https"]).default("http"),
    user: z.string().default("dedup_lab"),
    /** Name of the environment variable holding the password (never the password). */
    passwordEnv: z.string().default("DEDUP_CLICKHOUSE_PASSWORD"),
    /** Optional; must be the lab database (checked before connecting). */
    database: z.string().optional(),
    requestTimeoutMs: z.coerce.number().int().min(1000).default(600_000),
    /** How long a DELETE may take before it counts as failed. */
    mutationTimeoutMs: z.coerce.number().int().min(1000).default(300_000),
  })
  .strict();
type Options = z.infer<typeof options>;

const capabilities = {
  variants: {
    mergetree_lz4: "MergeTree ORDER BY id, payload CODEC(LZ4)",
    mergetree_zstd: "MergeTree ORDER BY id, payload CODEC(ZSTD)",
    replacing_lz4: "ReplacingMergeTree ORDER BY sha256 (identical payloads collapse at merge), payload CODEC(LZ4)",
    replacing_zstd: "ReplacingMergeTree ORDER BY sha256 (identical payloads collapse at merge), payload CODEC(ZSTD)",
  } satisfies Record<ClickhouseVariant, string>,
  maintenance: { optimize_final: "OPTIMIZE TABLE … FINAL: merge all parts (ReplacingMergeTree drops duplicates)" },
  layers: ["L1", "L2"],
  stages: ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"],
  embedded: false,
  appReplicas: 1,
} satisfies SystemDefinition["capabilities"];

/** Backoff between retries when the server is unreachable inside a stage (~7.8 s in all). */
const RECONNECT_DELAYS_MS = [250, 500, 1000, 2000, 4000];
const CONNECTION_LOSS_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ECONNABORTED", "EHOSTUNREACH"]);

function isConnectionLoss(e: unknown): boolean {
  const err = e as NodeJS.ErrnoException;
  return CONNECTION_LOSS_CODES.has(err?.code ?? "") || /socket hang up/i.test(errorMessage(e));
}

/** What the server can do, probed on connect. */
interface ServerFeatures {
  version: string;
  /** Per-column CODEC(...) (ClickHouse ≥ 19.1). */
  codecs: boolean;
  settings: Record<(typeof PROBED_SETTINGS)[number], boolean>;
}

type Row = Record<string, string | number>;

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks).toString("utf8");
}

class ClickhouseSystem implements LabSystem {
  readonly name = "clickhouse";
  readonly capabilities = capabilities;
  private client?: ClickHouseClient;
  private features?: ServerFeatures;
  private cell?: CellContext;
  private tables: string[] = [];
  private readonly endpoint: string;
  private readonly db: string;

  constructor(
    private readonly lab: LabNamespace,
    private readonly options: Options,
  ) {
    this.endpoint = clickhouseDefinition.endpoint(options);
    this.db = lab.sqlName;
  }

  // ---- connection handling -------------------------------------------------------------

  private fail(what: string, e?: unknown): SystemError {
    return new SystemError("clickhouse", this.endpoint, e === undefined ? what : `${what}: ${this.describe(e)}`, { cause: e });
  }

  /** One line, never the password. */
  private describe(e: unknown): string {
    const { code, text } = parseServerError(errorMessage(e));
    let msg = code === null ? text : `${text} (Code ${code})`;
    const password = process.env[this.options.passwordEnv];
    if (password) msg = msg.split(password).join("***");
    const errno = (e as NodeJS.ErrnoException)?.code;
    if (errno === "ECONNREFUSED") return `connection refused (${msg}) — is the server running on this host and port?`;
    if (code !== null && AUTH_ERROR_CODES.has(code)) return `${msg} — check the user and the password in $${this.options.passwordEnv}`;
    return msg;
  }

  private newClient(): ClickHouseClient {
    const password = process.env[this.options.passwordEnv];
    if (password === undefined) {
      throw this.fail(`password variable $${this.options.passwordEnv} is not set — export it (scripts/services.sh up writes it to .services/env)`);
    }
    return createClient({
      url: `${this.options.protocol}://${this.options.host}:${this.options.port}`,
      username: this.options.user,
      password,
      request_timeout: this.options.requestTimeoutMs,
      compression: { request: false, response: false },
      log: { level: ClickHouseLogLevel.OFF },
    });
  }

  /**
   * Run `fn`; while the server is unreachable, wait with backoff and run it again
   * (`retry` = true lets `fn` check whether its first attempt landed).
   */
  private async run<T>(what: string, fn: (client: ClickHouseClient, retry: boolean) => Promise<T>, retries = RECONNECT_DELAYS_MS.length): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        this.client ??= this.newClient();
        return await fn(this.client, attempt > 0);
      } catch (e) {
        if (e instanceof SystemError) throw e;
        if (!isConnectionLoss(e)) throw this.fail(what, e);
        if (attempt >= retries) throw this.fail(retries ? `${what} (gave up after ${retries} retries)` : what, e);
        await sleep(RECONNECT_DELAYS_MS[attempt]!);
      }
    }
  }

  private async command(sql: string, what: string, settings?: ClickHouseSettings): Promise<void> {
    await this.run(what, async (c) => {
      const r = await c.command({ query: sql, clickhouse_settings: settings });
      if (r.http_status_code !== undefined && r.http_status_code !== 200) throw new Error(`HTTP ${r.http_status_code}`);
    });
  }

  private async select<T extends Row = Row>(sql: string, what: string): Promise<T[]> {
    return this.run(what, async (c) => (await c.query({ query: sql, format: "JSONEachRow" })).json<T>());
  }

  async connect(): Promise<void> {
    if (this.features) return;
    // no retries here: an unreachable server at the start of a run is a plain error
    const [info] = await this.run(
      `connect as ${this.options.user} failed`,
      async (c) => (await c.query({ query: "SELECT version() AS version", format: "JSONEachRow" })).json<{ version: string }>(),
      0,
    );
    const present = new Set((await this.select<{ name: string }>(settingsSql(), "probe settings")).map((r) => r.name));
    this.features = {
      version: info!.version,
      codecs: versionAtLeast(info!.version, 19, 1),
      settings: Object.fromEntries(PROBED_SETTINGS.map((s) => [s, present.has(s)])) as ServerFeatures["settings"],
    };
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.features = undefined;
    await c?.close();
  }

  /** The payload codec the cell's tables really use. */
  private codec(): string {
    const wanted = VARIANTS[this.variant].codec;
    return this.features!.codecs ? wanted : "server default (LZ4 unless its <compression> config says otherwise)";
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
    await this.command(createDatabaseSql(this.db), `create database ${this.db}`);
    for (const t of this.tables) {
      await this.command(dropTableSql(this.db, t), `drop leftover table ${t}`);
      await this.command(createTableSql(this.db, t, variant, this.features!.codecs), `create table ${t}`);
    }
    for (const d of this.degradations()) cell.log(`clickhouse degraded: ${d}`);
  }

  async reset(): Promise<void> {
    await this.prepare(this.cell!);
  }

  async cleanup(): Promise<void> {
    await this.command(dropDatabaseSql(this.db), `drop database ${this.db}`);
    this.tables = [];
  }

  // ---- writes ---------------------------------------------------------------------------

  /** One INSERT … FORMAT RowBinary fed from `values`; the response is read and checked. */
  private async insertStream(client: ClickHouseClient, table: string, values: Readable): Promise<void> {
    const r = await client.exec({ query: insertRowBinarySql(this.db, table), values, clickhouse_settings: this.insertSettings });
    const body = await readAll(r.stream);
    if (r.http_status_code !== undefined && r.http_status_code !== 200) throw new Error(`HTTP ${r.http_status_code}: ${body}`);
    if (/Code: \d+/.test(body)) throw new Error(body);
  }

  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<void> {
    const client = this.client ?? this.newClient();
    this.client = client;
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
          s.values.write(rowHeader(u));
          if (!s.values.write(u.payload)) await Promise.race([once(s.values, "drain"), endedEarly(s)]);
        }
      }
      for (const s of inserts) s.values.end();
      for (const s of inserts) await s.done;
    } catch (e) {
      // e is the server's answer (a rejected INSERT) or the caller's iterator failing
      for (const s of inserts) s.values.destroy();
      await Promise.allSettled(inserts.map((s) => s.done));
      throw this.fail(`bulk insert into ${this.db}`, e);
    }
  }

  async insert(u: Unit): Promise<void> {
    const table = this.tables[u.container]!;
    await this.run(`insert of ${u.id} into ${table}`, async (client, retry) => {
      // after a dropped connection the first attempt may have landed: MergeTree would keep both
      if (retry && (await this.rowsWithId(client, table, u.id)) > 0) return;
      await this.insertStream(client, table, Readable.from([rowHeader(u), u.payload]));
    });
  }

  private async rowsWithId(client: ClickHouseClient, table: string, id: string): Promise<number> {
    const [r] = await (await client.query({ query: countIdSql(this.db, table, id), format: "JSONEachRow" })).json<{ n: string }>();
    return Number(r!.n);
  }

  /** ALTER … DELETE is a mutation: return only when it is done. Rows of a ReplacingMergeTree that
   *  already collapsed into a row with another id are gone under that id, so no row count check. */
  async delete(u: UnitRef): Promise<void> {
    const table = this.tables[u.container]!;
    const sync = this.features!.settings.mutations_sync;
    await this.command(deleteSql(this.db, table, u.id), `delete of ${u.id} from ${table}`, sync ? { mutations_sync: "2" } : undefined);
    if (!sync) await this.waitForMutations([table], `delete of ${u.id} from ${table}`);
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

  async maintenance(name: string): Promise<void> {
    if (name !== "optimize_final") throw this.fail(`unknown maintenance "${name}" — use: optimize_final`);
    await this.waitForMutations(this.tables, "OPTIMIZE");
    for (const t of this.tables) await this.optimizeFinal(t);
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

  // ---- sizes and snapshots --------------------------------------------------------------

  async sizes(): Promise<SizeReading[]> {
    const parts = await this.select(partTotalsSql(this.db, this.tables), "read system.parts");
    const columns = await this.select(columnsSql(this.db, this.tables), "read system.columns");
    const sum = (rows: Row[], col: string, activeOnly = true) =>
      rows.filter((r) => !activeOnly || Number(r.active) === 1).reduce((a, r) => a + Number(r[col]), 0);
    const degraded = this.degradations().filter((d) => d.startsWith("CODEC"));
    const reason = degraded.length ? { reason: `degraded: ${degraded.join("; ")}` } : {};
    const r = (layer: "L1" | "L2", metric: string, bytes: number, primary = false): SizeReading => ({
      layer,
      metric,
      bytes,
      ...(primary ? { primary } : {}),
      ...reason,
    });
    return [
      r("L1", "data_uncompressed_bytes", sum(parts, "data_uncompressed_bytes"), true),
      r("L1", "columns_uncompressed_bytes", sum(columns, "data_uncompressed_bytes", false)),
      r("L2", "bytes_on_disk", sum(parts, "bytes_on_disk"), true),
      r("L2", "data_compressed_bytes", sum(parts, "data_compressed_bytes")),
      r("L2", "columns_compressed_bytes", sum(columns, "data_compressed_bytes", false)),
      r("L2", "bytes_on_disk_incl_inactive_parts", sum(parts, "bytes_on_disk", false)),
    ];
  }

  async snapshot(): Promise<unknown> {
    const f = this.features!;
    const mutations = await this.select(mutationsSql(this.db, this.tables), "read system.mutations");
    return {
      version: f.version,
      variant: this.cell?.variant,
      payload_codec: this.codec(),
      features: { codecs: f.codecs, settings: f.settings },
      degradations: this.degradations(),
      insert_settings: this.insertSettings,
      tables: await this.select(tablesSql(this.db, this.tables), "read system.tables"),
      part_totals: await this.select(partTotalsSql(this.db, this.tables), "read system.parts"),
      // per-unit inserts make one part each: keep the list bounded
      parts: (await this.select(partsSql(this.db, this.tables), "read system.parts")).slice(0, 500),
      columns: await this.select(columnsSql(this.db, this.tables), "read system.columns"),
      mutations: { total: mutations.length, pending: mutations.filter((m) => Number(m.is_done) === 0).length, last: mutations.slice(-5) },
    };
  }
}

export const clickhouseDefinition: SystemDefinition<Options> = {
  name: "clickhouse",
  description: "ClickHouse over HTTP (@clickhouse/client): lab database, one MergeTree-family table per container",
  capabilities,
  options,
  checkNamespace: (o, lab) => lab.requireLabSql("clickhouse", "database", o.database),
  endpoint: (o) => `${o.host}:${o.port}`,
  create: (o, lab) => new ClickhouseSystem(lab, o),
};
