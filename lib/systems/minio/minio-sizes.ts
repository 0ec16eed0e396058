// Size readings and the snapshot of one cell's buckets: listings (L1), MinIO's
// scanner-derived bucket usage from its Prometheus endpoint (v2 text format) and, on a local
// single-drive server, the allocated blocks of each bucket directory (L2).
//
// The scanner is lazy: usage can be minutes to days old on a busy server, so a reading that
// disagrees with the listing is reported as stale rather than trusted.
import { join, resolve } from "node:path";
import { errorMessage } from "../../errors.js";
import { blockUsage } from "../../fs-blocks.js";
import type { SizeReading } from "../contract.js";
import { firstLine } from "../server-errors.js";
import type { BucketUsage, MinioConnection } from "./minio-connection.js";

export type { BucketUsage };

const BYTES = "minio_bucket_usage_total_bytes";
const OBJECTS = "minio_bucket_usage_object_total";

/** Per-bucket usage from a Prometheus text exposition. Buckets the scanner has not reported are absent. */
export function parseBucketUsage(text: string): Map<string, BucketUsage> {
  const out = new Map<string, BucketUsage>();
  for (const line of text.split("\n")) {
    if (!line.startsWith(BYTES) && !line.startsWith(OBJECTS)) continue;
    const m = /^(\w+)\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!m || (m[1] !== BYTES && m[1] !== OBJECTS)) continue;
    const bucket = /(?:^|,)bucket="((?:[^"\\]|\\.)*)"/.exec(m[2]!)?.[1];
    if (bucket === undefined) continue;
    const entry = out.get(bucket) ?? { bytes: 0, objects: 0 };
    // One series per server in a distributed setup: sum them.
    if (m[1] === BYTES) entry.bytes += Number(m[3]);
    else entry.objects += Number(m[3]);
    out.set(bucket, entry);
  }
  return out;
}

export interface UsageComparison {
  bytes: number | null;
  /** Set when the scanner's view disagrees with the listing (or is missing). */
  stale?: string;
}

/**
 * Σ scanner usage over the `listed` buckets, flagged stale unless it matches the listing in
 * bytes and objects. The scanner counts all versions' bytes and every object name with any
 * version, so `listed` must come from a version listing on versioned buckets.
 */
export function compareUsage(usage: Map<string, BucketUsage>, listed: Map<string, BucketUsage>): UsageComparison {
  let bytes = 0;
  const missing: string[] = [];
  const behind: string[] = [];
  for (const [bucket, l] of listed) {
    const u = usage.get(bucket);
    if (!u) {
      missing.push(bucket);
      continue;
    }
    bytes += u.bytes;
    if (u.bytes !== l.bytes || u.objects !== l.objects) {
      behind.push(`${bucket}: ${u.objects} objects/${u.bytes} B vs listed ${l.objects}/${l.bytes} B`);
    }
  }
  if (missing.length === listed.size && listed.size > 0) {
    return { bytes: null, stale: `stale: scanner has not reported ${missing.join(", ")} yet` };
  }
  const problems = [...(missing.length ? [`not reported yet: ${missing.join(", ")}`] : []), ...behind];
  return problems.length ? { bytes, stale: `stale: scanner behind the listing (${problems.join("; ")})` } : { bytes };
}

/** What the size readers need of the minio options block. */
export interface MinioSizeOptions {
  endPoint: string;
  port: number;
  useSSL: boolean;
  dataDir?: string;
  metricsUrl?: string;
  metricsTokenEnv?: string;
}

export function metricsUrlOf(o: MinioSizeOptions): string {
  return o.metricsUrl ?? `${o.useSSL ? "https" : "http"}://${o.endPoint}:${o.port}/minio/v2/metrics/bucket`;
}

/** Each bucket's directory on a single-drive MinIO (xl.meta plus part files; small objects inline). */
export function bucketDirs(o: MinioSizeOptions, buckets: string[] | null): string[] | null {
  if (!o.dataDir || !buckets) return null;
  const root = resolve(o.dataDir);
  return buckets.map((b) => join(root, b));
}

/**
 * What the scanner should report once it caught up, per bucket: it counts every version's
 * size (delete markers weigh 0) and every object name that has any version.
 */
async function versionUsage(conn: MinioConnection, buckets: string[]): Promise<Map<string, BucketUsage>> {
  const usage = new Map<string, BucketUsage>();
  for (const bucket of buckets) {
    const versions = await conn.listVersions(bucket);
    usage.set(bucket, { bytes: versions.reduce((s, v) => s + v.size, 0), objects: new Set(versions.map((v) => v.name)).size });
  }
  return usage;
}

/** Scanner usage of the cell's buckets compared with the listing, or why it cannot be read. */
export async function scannerUsage(conn: MinioConnection, o: MinioSizeOptions, buckets: string[], expected?: Map<string, BucketUsage>): Promise<UsageComparison | { unreachable: string }> {
  const url = metricsUrlOf(o);
  const headers: Record<string, string> = {};
  if (o.metricsTokenEnv) headers.authorization = `Bearer ${conn.secret(o.metricsTokenEnv)}`;
  let text: string;
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
    if (!res.ok) {
      const hint = res.status === 403 || res.status === 401 ? " (set MINIO_PROMETHEUS_AUTH_TYPE=public or metricsTokenEnv)" : "";
      return { unreachable: `metrics endpoint ${url} answered HTTP ${res.status}${hint}` };
    }
    text = await res.text();
  } catch (e) {
    return { unreachable: `metrics endpoint ${url} unreachable: ${firstLine(errorMessage((e as { cause?: unknown }).cause ?? e))}` };
  }
  return compareUsage(parseBucketUsage(text), expected ?? (await versionUsage(conn, buckets)));
}

export async function readMinioSizes(conn: MinioConnection, o: MinioSizeOptions, buckets: string[]): Promise<SizeReading[]> {
  let listedBytes = 0;
  for (const bucket of buckets) listedBytes += (await conn.listUsage(bucket)).bytes;
  const versions = await versionUsage(conn, buckets);
  const scanner = await scannerUsage(conn, o, buckets, versions);
  const readings: SizeReading[] = [
    { layer: "L1", metric: "list_objects_v2_bytes", bytes: listedBytes, primary: true },
    { layer: "L1", metric: "list_object_versions_bytes", bytes: [...versions.values()].reduce((s, u) => s + u.bytes, 0) },
    "unreachable" in scanner
      ? { layer: "L1", metric: "minio_bucket_usage_total_bytes", bytes: null, reason: scanner.unreachable }
      : { layer: "L1", metric: "minio_bucket_usage_total_bytes", bytes: scanner.bytes, ...(scanner.stale ? { reason: scanner.stale } : {}) },
  ];
  const dirs = bucketDirs(o, buckets);
  if (!dirs) {
    readings.push({ layer: "L2", metric: "data_dir_allocated_bytes", bytes: null, primary: true, reason: "dataDir not set: the server's drive is not visible from here" });
    return readings;
  }
  const usage = await blockUsage(dirs);
  readings.push(
    { layer: "L2", metric: "data_dir_allocated_bytes", bytes: usage.allocated, primary: true },
    { layer: "L2", metric: "data_dir_apparent_bytes", bytes: usage.apparent },
  );
  return readings;
}

export async function readMinioSnapshot(conn: MinioConnection, o: MinioSizeOptions, buckets: string[]): Promise<unknown> {
  const byBucket: Record<string, unknown> = {};
  for (const bucket of buckets) {
    const versions = await conn.listVersions(bucket);
    let versioning: unknown;
    try {
      versioning = await conn.s3.getBucketVersioning(bucket);
    } catch (e) {
      throw conn.fail(`GetBucketVersioning ${bucket}`, e);
    }
    byBucket[bucket] = {
      versioning,
      current_objects: versions.filter((v) => v.isLatest && !v.isDeleteMarker).length,
      noncurrent_versions: versions.filter((v) => !v.isLatest && !v.isDeleteMarker).length,
      delete_markers: versions.filter((v) => v.isDeleteMarker).length,
      version_bytes: versions.reduce((s, v) => s + v.size, 0),
    };
  }
  const scanner = await scannerUsage(conn, o, buckets);
  const dirs = bucketDirs(o, buckets);
  return { buckets: byBucket, scanner_usage: scanner, data_dir: dirs ? await blockUsage(dirs) : null };
}
