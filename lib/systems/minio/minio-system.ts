// MinIO (or any S3 server) through the minio client: one bucket per container,
// `<prefix>-lab-<cell>-c<k>`, one object per unit named by its id. Bucket names only ever
// come from LabNamespace.objectName; cleanup touches only buckets under the lab prefix.
import * as Minio from "minio";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { SystemError, errorMessage } from "../../errors.js";
import { blockUsage } from "../../fs-blocks.js";
import type { LabNamespace } from "../namespace.js";
import type { CellContext, LabSystem, SizeReading, SystemDefinition, Unit, UnitRef } from "../contract.js";
import { compareUsage, parseBucketUsage, type BucketUsage, type UsageComparison } from "./minio-metrics.js";

const MiB = 1024 * 1024;
/** Payload bytes of concurrent bulk PUTs: keeps memory flat when units are large. */
const INFLIGHT_BYTES = 64 * MiB;

const options = z
  .object({
    endPoint: z.string().default("127.0.0.1"),
    port: z.coerce.number().int().min(1).max(65535).default(9000),
    useSSL: z.boolean().default(false),
    /** Names of the environment variables holding the access and secret key (never the keys). */
    accessKeyEnv: z.string(),
    secretKeyEnv: z.string(),
    region: z.string().default("us-east-1"),
    /** Multipart part size; objects larger than this are uploaded in parts (S3 minimum 5 MiB). */
    partSize: z.coerce.number().int().min(5 * MiB).default(64 * MiB),
    /** Concurrent PUTs in the bulk stage (32 beat 16 and 4 on a 2-core single-drive MinIO). */
    concurrency: z.coerce.number().int().min(1).max(256).default(32),
    /** The server's data directory, when local: allocated blocks of each bucket directory are the L2 primary. */
    dataDir: z.string().optional(),
    /** Prometheus v2 endpoint with minio_bucket_usage_*; default: <endpoint>/minio/v2/metrics/bucket. */
    metricsUrl: z.string().optional(),
    /** Environment variable with a bearer token for the metrics endpoint (`mc admin prometheus generate`). */
    metricsTokenEnv: z.string().optional(),
    /** Upper bound of the await_scanner maintenance. */
    scannerTimeoutSeconds: z.coerce.number().positive().default(300),
  })
  .strict();
type Options = z.infer<typeof options>;

const capabilities = {
  variants: {
    unversioned: "plain buckets: DELETE removes the object",
    versioned: "bucket versioning on: DELETE leaves a delete marker, the data stays as a noncurrent version",
  },
  maintenance: {
    purge_noncurrent: "remove noncurrent versions and delete markers (what a lifecycle expiry would reclaim; a no-op on unversioned buckets)",
    await_scanner: "wait until MinIO's data scanner reports bucket usage that matches the listing (bounded by scannerTimeoutSeconds)",
  },
  layers: ["L1", "L2"],
  stages: ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"],
  embedded: false,
} satisfies SystemDefinition["capabilities"];

const endpointOf = (o: Options): string => `${o.endPoint}:${o.port}`;
const metricsUrlOf = (o: Options): string =>
  o.metricsUrl ?? `${o.useSSL ? "https" : "http"}://${o.endPoint}:${o.port}/minio/v2/metrics/bucket`;

interface VersionEntry {
  name: string;
  versionId?: string;
  size: number;
  isLatest: boolean;
  isDeleteMarker: boolean;
}

class MinioSystem implements LabSystem {
  readonly name = "minio";
  readonly capabilities = capabilities;
  private client?: Minio.Client;
  private cell?: CellContext;
  private readonly endpoint: string;

  constructor(
    private readonly lab: LabNamespace,
    private readonly options: Options,
  ) {
    this.endpoint = endpointOf(options);
  }

  private fail(what: string, e: unknown): SystemError {
    const code = (e as { code?: unknown })?.code;
    const msg = firstLine(errorMessage(e));
    const text = typeof code === "string" && !msg.includes(code) ? `${code}: ${msg}` : msg;
    return new SystemError("minio", this.endpoint, `${what}: ${text}${hintFor(code)}`);
  }

  private get s3(): Minio.Client {
    if (!this.client) throw new SystemError("minio", this.endpoint, "not connected (call connect first)");
    return this.client;
  }

  private secret(envName: string): string {
    const v = process.env[envName];
    if (v === undefined || v === "") {
      throw new SystemError("minio", this.endpoint, `environment variable ${envName} is not set — export it (local services: .services/env)`);
    }
    return v;
  }

  async connect(): Promise<void> {
    if (this.client) return;
    const o = this.options;
    const client = new Minio.Client({
      endPoint: o.endPoint,
      port: o.port,
      useSSL: o.useSSL,
      accessKey: this.secret(o.accessKeyEnv),
      secretKey: this.secret(o.secretKeyEnv),
      region: o.region,
      pathStyle: true,
      partSize: o.partSize,
      // 5xx/429 answers (a busy or restarting server) are retried with exponential backoff.
      retryOptions: { maximumRetryCount: 3, baseDelayMs: 200, maximumDelayMs: 2000 },
    });
    // A signed request against a lab bucket name checks endpoint and credentials together.
    const probe = this.lab.objectName("probe");
    try {
      await client.listObjectsV2Query(probe, "", "", "", 1, "");
    } catch (e) {
      if ((e as { code?: unknown }).code !== "NoSuchBucket") throw this.fail("connect failed", e);
    }
    this.client = client;
  }

  async close(): Promise<void> {
    this.client = undefined;
  }

  private buckets(): string[] {
    return Array.from({ length: this.cell!.containers }, (_, k) => this.lab.objectName(this.cell!.cellKey, `c${k}`));
  }

  private bucket(u: UnitRef): string {
    return this.lab.objectName(this.cell!.cellKey, `c${u.container}`);
  }

  private async listVersions(bucket: string): Promise<VersionEntry[]> {
    const out: VersionEntry[] = [];
    try {
      for await (const o of this.s3.listObjects(bucket, "", true, { IncludeVersion: true })) {
        const e = o as Minio.BucketItem & { versionId?: string; isLatest?: string | boolean; isDeleteMarker?: boolean };
        out.push({
          name: e.name!,
          versionId: e.versionId && e.versionId !== "null" ? e.versionId : undefined,
          size: e.size ?? 0,
          isLatest: e.isLatest === true || e.isLatest === "true",
          isDeleteMarker: e.isDeleteMarker === true,
        });
      }
    } catch (e) {
      throw this.fail(`list object versions of ${bucket}`, e);
    }
    return out;
  }

  /** Σ sizes and count of current objects (ListObjectsV2, paginated by the client). */
  private async listUsage(bucket: string): Promise<BucketUsage> {
    const usage = { bytes: 0, objects: 0 };
    try {
      for await (const o of this.s3.listObjectsV2(bucket, "", true)) {
        usage.bytes += (o as Minio.BucketItem).size;
        usage.objects++;
      }
    } catch (e) {
      throw this.fail(`ListObjectsV2 ${bucket}`, e);
    }
    return usage;
  }

  private async removeEntries(bucket: string, entries: { name: string; versionId?: string }[]): Promise<void> {
    if (!entries.length) return;
    let errors: unknown[];
    try {
      errors = await this.s3.removeObjects(bucket, entries.map((e) => (e.versionId ? { name: e.name, versionId: e.versionId } : { name: e.name })));
    } catch (e) {
      throw this.fail(`DeleteObjects in ${bucket}`, e);
    }
    const bad = errors.filter(Boolean) as { Code?: string; Message?: string; Key?: string; Error?: { Code?: string; Message?: string; Key?: string } }[];
    if (bad.length) {
      const first = bad[0]!.Error ?? bad[0]!;
      throw new SystemError("minio", this.endpoint, `DeleteObjects in ${bucket}: ${bad.length} failed, first ${first.Key}: ${first.Code} ${first.Message ?? ""}`.trim());
    }
  }

  /** Remove every object version and delete marker of a lab bucket. */
  private async emptyBucket(bucket: string): Promise<void> {
    if (!this.lab.isLabObject(bucket)) throw new SystemError("minio", this.endpoint, `refusing to empty non-lab bucket ${bucket}`);
    await this.removeEntries(bucket, await this.listVersions(bucket));
  }

  private async dropBucket(bucket: string): Promise<void> {
    let exists: boolean;
    try {
      exists = await this.s3.bucketExists(bucket);
    } catch (e) {
      throw this.fail(`HeadBucket ${bucket}`, e);
    }
    if (!exists) return;
    await this.emptyBucket(bucket);
    try {
      await this.s3.removeBucket(bucket);
    } catch (e) {
      throw this.fail(`DeleteBucket ${bucket}`, e);
    }
  }

  async prepare(cell: CellContext): Promise<void> {
    this.cell = cell;
    for (const bucket of this.buckets()) {
      // Leftovers of an earlier attempt of this cell go first, so versioning starts as configured.
      await this.dropBucket(bucket);
      try {
        await this.s3.makeBucket(bucket, this.options.region);
        if (cell.variant === "versioned") await this.s3.setBucketVersioning(bucket, { Status: "Enabled" });
      } catch (e) {
        throw this.fail(`create bucket ${bucket}`, e);
      }
    }
  }

  private async put(u: Unit): Promise<void> {
    try {
      if (u.payload.length > this.options.partSize) await this.putMultipart(this.bucket(u), u.id, u.payload);
      else await this.s3.putObject(this.bucket(u), u.id, u.payload, u.payload.length);
    } catch (e) {
      throw this.fail(`PUT ${this.bucket(u)}/${u.id}`, e);
    }
  }

  /**
   * Multipart upload in parts of `partSize`, through the client's public multipart calls.
   * (minio 8.0.7's putObject sends any Buffer in one PUT, and its stream path can merge
   * buffered parts into one and numbers parts from 2.)
   */
  private async putMultipart(bucket: string, name: string, payload: Buffer): Promise<void> {
    const uploadID = await this.s3.initiateNewMultipartUpload(bucket, name, {});
    try {
      const etags: { part: number; etag: string }[] = [];
      for (let off = 0, part = 1; off < payload.length; off += this.options.partSize, part++) {
        const chunk = payload.subarray(off, off + this.options.partSize);
        const r = await this.s3.uploadPart({ bucketName: bucket, objectName: name, uploadID, partNumber: part, headers: { "Content-Length": chunk.length } }, chunk);
        etags.push({ part, etag: r.etag });
      }
      await this.s3.completeMultipartUpload(bucket, name, uploadID, etags);
    } catch (e) {
      await this.s3.abortMultipartUpload(bucket, name, uploadID).catch(() => {});
      throw e;
    }
  }

  /** Concurrent PUTs, at most `concurrency` objects and INFLIGHT_BYTES of payload at a time. */
  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<void> {
    const inflight = new Set<Promise<void>>();
    let bytes = 0;
    let failure: unknown;
    try {
      for await (const batch of batches) {
        for (const u of batch) {
          while (inflight.size > 0 && (inflight.size >= this.options.concurrency || bytes + u.payload.length > INFLIGHT_BYTES)) {
            await Promise.race(inflight);
          }
          if (failure) break;
          bytes += u.payload.length;
          const p: Promise<void> = this.put(u).then(
            () => {
              inflight.delete(p);
              bytes -= u.payload.length;
            },
            (e) => {
              inflight.delete(p);
              bytes -= u.payload.length;
              failure ??= e;
            },
          );
          inflight.add(p);
        }
        if (failure) break;
      }
    } finally {
      await Promise.all(inflight);
    }
    if (failure) throw failure;
  }

  insert(u: Unit): Promise<void> {
    return this.put(u);
  }

  async delete(u: UnitRef): Promise<void> {
    try {
      await this.s3.removeObject(this.bucket(u), u.id);
    } catch (e) {
      throw this.fail(`DELETE ${this.bucket(u)}/${u.id}`, e);
    }
  }

  async maintenance(name: string): Promise<void> {
    if (name === "purge_noncurrent") {
      for (const bucket of this.buckets()) {
        const stale = (await this.listVersions(bucket)).filter((v) => !v.isLatest || v.isDeleteMarker);
        await this.removeEntries(bucket, stale);
      }
      return;
    }
    if (name === "await_scanner") {
      const deadline = Date.now() + this.options.scannerTimeoutSeconds * 1000;
      for (;;) {
        const c = await this.scannerUsage();
        if ("unreachable" in c) throw new SystemError("minio", this.endpoint, `await_scanner: ${c.unreachable}`);
        if (!c.stale) return;
        if (Date.now() > deadline) {
          throw new SystemError("minio", this.endpoint, `await_scanner: still ${c.stale} after ${this.options.scannerTimeoutSeconds} s — check \`mc admin scanner status\``);
        }
        await sleep(500);
      }
    }
    throw new SystemError("minio", this.endpoint, `unknown maintenance "${name}" — use one of: ${Object.keys(capabilities.maintenance).join(", ")}`);
  }

  async reset(): Promise<void> {
    for (const bucket of this.buckets()) await this.emptyBucket(bucket);
  }

  /**
   * What the scanner should report once it caught up, per bucket: it counts every version's
   * size (delete markers weigh 0) and every object name that has any version.
   */
  private async versionUsage(): Promise<Map<string, BucketUsage>> {
    const usage = new Map<string, BucketUsage>();
    for (const bucket of this.buckets()) {
      const versions = await this.listVersions(bucket);
      usage.set(bucket, { bytes: versions.reduce((s, v) => s + v.size, 0), objects: new Set(versions.map((v) => v.name)).size });
    }
    return usage;
  }

  /** Scanner usage of the cell's buckets compared with the listing, or why it cannot be read. */
  private async scannerUsage(expected?: Map<string, BucketUsage>): Promise<UsageComparison | { unreachable: string }> {
    const url = metricsUrlOf(this.options);
    const headers: Record<string, string> = {};
    if (this.options.metricsTokenEnv) headers.authorization = `Bearer ${this.secret(this.options.metricsTokenEnv)}`;
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
    return compareUsage(parseBucketUsage(text), expected ?? (await this.versionUsage()));
  }

  async sizes(): Promise<SizeReading[]> {
    let listedBytes = 0;
    for (const bucket of this.buckets()) listedBytes += (await this.listUsage(bucket)).bytes;
    const versions = await this.versionUsage();
    const scanner = await this.scannerUsage(versions);
    const readings: SizeReading[] = [
      { layer: "L1", metric: "list_objects_v2_bytes", bytes: listedBytes, primary: true },
      { layer: "L1", metric: "list_object_versions_bytes", bytes: [...versions.values()].reduce((s, u) => s + u.bytes, 0) },
      "unreachable" in scanner
        ? { layer: "L1", metric: "minio_bucket_usage_total_bytes", bytes: null, reason: scanner.unreachable }
        : { layer: "L1", metric: "minio_bucket_usage_total_bytes", bytes: scanner.bytes, ...(scanner.stale ? { reason: scanner.stale } : {}) },
    ];
    const dirs = this.bucketDirs();
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

  /** Each bucket's directory on a single-drive MinIO (xl.meta plus part files; small objects inline). */
  private bucketDirs(): string[] | null {
    if (!this.options.dataDir || !this.cell) return null;
    const root = resolve(this.options.dataDir);
    return this.buckets().map((b) => join(root, b));
  }

  async snapshot(): Promise<unknown> {
    const buckets: Record<string, unknown> = {};
    for (const bucket of this.buckets()) {
      const versions = await this.listVersions(bucket);
      let versioning: unknown;
      try {
        versioning = await this.s3.getBucketVersioning(bucket);
      } catch (e) {
        throw this.fail(`GetBucketVersioning ${bucket}`, e);
      }
      buckets[bucket] = {
        versioning,
        current_objects: versions.filter((v) => v.isLatest && !v.isDeleteMarker).length,
        noncurrent_versions: versions.filter((v) => !v.isLatest && !v.isDeleteMarker).length,
        delete_markers: versions.filter((v) => v.isDeleteMarker).length,
        version_bytes: versions.reduce((s, v) => s + v.size, 0),
      };
    }
    const scanner = await this.scannerUsage();
    const dirs = this.bucketDirs();
    return { buckets, scanner_usage: scanner, data_dir: dirs ? await blockUsage(dirs) : null };
  }

  async cleanup(): Promise<void> {
    let names: string[];
    try {
      names = (await this.s3.listBuckets()).map((b) => b.name);
    } catch (e) {
      // MinIO lists a restricted key only the buckets it may list, and refuses (AccessDenied)
      // when that is none; other S3 servers may refuse outright. Then clean this cell's buckets.
      if ((e as { code?: unknown }).code !== "AccessDenied") throw this.fail("ListBuckets", e);
      names = this.cell ? this.buckets() : [];
    }
    for (const bucket of names.filter((n) => this.lab.isLabObject(n))) await this.dropBucket(bucket);
  }

  storagePaths(): string[] {
    return this.bucketDirs() ?? [];
  }
}

function firstLine(s: string): string {
  return s.split("\n")[0]!.trim();
}

function hintFor(code: unknown): string {
  if (code === "InvalidAccessKeyId" || code === "SignatureDoesNotMatch") return " — check accessKeyEnv and secretKeyEnv";
  if (code === "AccessDenied") return " — the access key's policy must allow s3:* on the lab buckets";
  return "";
}

export const minioDefinition: SystemDefinition<Options> = {
  name: "minio",
  description: "MinIO / S3 (minio client): one bucket per container under the lab prefix, one object per unit",
  capabilities,
  options,
  endpoint: endpointOf,
  create: (o, lab) => new MinioSystem(lab, o),
};
