// Size readings and the snapshot of one cell's tables, from system.parts and system.columns:
// L1 primary = data_uncompressed_bytes, L2 primary = bytes_on_disk of the active parts;
// data_compressed_bytes, system.columns sums and the on-disk bytes of parts that merges
// replaced but the server has not removed yet (old_parts_lifetime) beside them.
import type { SizeReading } from "../contract.js";
import type { ClickhouseConnection, Row, ServerFeatures } from "./clickhouse-connection.js";
import { columnsSql, mutationsSql, partTotalsSql, partsSql, tablesSql } from "./clickhouse-sql.js";

/** Every reading carries `reason` when the cell's tables are degraded (e.g. no per-column codec). */
export async function readClickhouseSizes(conn: ClickhouseConnection, db: string, tables: string[], degraded: string[]): Promise<SizeReading[]> {
  const parts = await conn.select(partTotalsSql(db, tables), "read system.parts");
  const columns = await conn.select(columnsSql(db, tables), "read system.columns");
  const sum = (rows: Row[], col: string, activeOnly = true) =>
    rows.filter((r) => !activeOnly || Number(r.active) === 1).reduce((a, r) => a + Number(r[col]), 0);
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

export interface ClickhouseSnapshotContext {
  db: string;
  tables: string[];
  features: ServerFeatures;
  variant: string | undefined;
  payloadCodec: string;
  degradations: string[];
  insertSettings: Record<string, unknown>;
}

export async function readClickhouseSnapshot(conn: ClickhouseConnection, x: ClickhouseSnapshotContext): Promise<unknown> {
  const f = x.features;
  const mutations = await conn.select(mutationsSql(x.db, x.tables), "read system.mutations");
  return {
    version: f.version,
    variant: x.variant,
    payload_codec: x.payloadCodec,
    features: { codecs: f.codecs, settings: f.settings },
    degradations: x.degradations,
    insert_settings: x.insertSettings,
    tables: await conn.select(tablesSql(x.db, x.tables), "read system.tables"),
    part_totals: await conn.select(partTotalsSql(x.db, x.tables), "read system.parts"),
    // per-unit inserts make one part each: keep the list bounded
    parts: (await conn.select(partsSql(x.db, x.tables), "read system.parts")).slice(0, 500),
    // with compression_codec where the server has it: the codec each column really uses
    columns: await conn.select(columnsSql(x.db, x.tables, f.codecColumn), "read system.columns"),
    mutations: { total: mutations.length, pending: mutations.filter((m) => Number(m.is_done) === 0).length, last: mutations.slice(-5) },
  };
}
