// Size readings and the snapshot of the lab database from CockroachDB's span statistics
// (and SHOW RANGES as a cross-check). On a non-CockroachDB server every value is null with
// the reason.
import type pg from "pg";
import type { SizeReading } from "../contract.js";
import type { ServerInfo } from "../postgres/postgres-sql.js";
import { tryCrdb, type CrdbAnswer, type WireOptions } from "./cockroach-connection.js";
import { SPAN_STATS_SQL, TABLE_SPAN_STATS_SQL, rangesDetailsSql, showZoneSql } from "./cockroach-sql.js";

const num = (v: unknown): number => Number(v ?? 0);

/** L1 = live_bytes, L2 = approximate_disk_bytes of the lab database's spans. */
export async function readCockroachSizes(c: pg.Client, o: WireOptions, notCrdb: string | null, database: string): Promise<SizeReading[]> {
  const span = await tryCrdb(c, o, notCrdb, SPAN_STATS_SQL, [database]);
  const ranges = await tryCrdb(c, o, notCrdb, rangesDetailsSql(database));
  const pick = (r: CrdbAnswer, k: string) => (r.rows ? { bytes: num(r.rows[0]?.[k]) } : { bytes: null, reason: r.reason });
  return [
    { layer: "L1", metric: "live_bytes", ...pick(span, "live_bytes"), primary: true },
    { layer: "L1", metric: "total_bytes", ...pick(span, "total_bytes") },
    { layer: "L1", metric: "show_ranges_range_size", ...pick(ranges, "range_size") },
    { layer: "L2", metric: "approximate_disk_bytes", ...pick(span, "approximate_disk_bytes"), primary: true },
    { layer: "L2", metric: "show_ranges_approximate_disk_bytes", ...pick(ranges, "approximate_disk_bytes") },
  ] satisfies SizeReading[];
}

export interface CockroachSnapshotContext {
  database: string;
  connectedTo: string;
  server: ServerInfo & { versionNum: number };
  namespaceKind: "schema" | "database";
  gcTtlSeconds: number;
  notes: string[];
  reconnects: { doing: string; error: string }[];
}

export async function readCockroachSnapshot(c: pg.Client, o: WireOptions, notCrdb: string | null, x: CockroachSnapshotContext): Promise<unknown> {
  const tables = await tryCrdb(c, o, notCrdb, TABLE_SPAN_STATS_SQL, [x.database]);
  const zone = await tryCrdb(c, o, notCrdb, showZoneSql(x.database));
  const ranges = await tryCrdb(c, o, notCrdb, rangesDetailsSql(x.database));
  return {
    server: x.server,
    namespace: { kind: x.namespaceKind, name: x.database, connectedTo: x.connectedTo },
    gc_ttl_seconds_requested: x.gcTtlSeconds,
    zone_configuration: zone.rows ?? { unavailable: zone.reason },
    table_span_stats: tables.rows ?? { unavailable: tables.reason },
    ranges: ranges.rows?.[0] ?? { unavailable: ranges.reason },
    notes: x.notes,
    reconnects: x.reconnects,
  };
}
