// MinIO (or any S3 server) through the minio client: one bucket per container,
// `<prefix>-lab-<cell>-c<k>`, one object per unit named by its id; typed cells (issue 14) one JSON
// object per record, `<unit id or natural key>.json` (encoding in minio-typed.ts). Bucket names only ever
// come from LabNamespace.objectName; cleanup touches only buckets under the lab prefix.
// The contract only: connecting and S3 calls in minio-connection.ts, sizes, scanner usage and
// snapshot in minio-sizes.ts, options and definition in minio-options.ts.
import { setTimeout as sleep } from "node:timers/promises";
import type { LabNamespace } from "../namespace.js";
import type * as Minio from "minio";
import { decodeRecord } from "../../generators/records.js";
import { OK, recordOf, type Capabilities, type CellContext, type LabSystem, type OpStatus, type RecordValues, type SizeReading, type TypedCell, type Unit, type UnitRef } from "../contract.js";
import { MinioConnection } from "./minio-connection.js";
import type { MinioOptions } from "./minio-options.js";
import { bucketDirs, readMinioSizes, readMinioSnapshot, scannerUsage } from "./minio-sizes.js";
import { recordContainer, recordFromJson, recordJson, recordObjectName } from "./minio-typed.js";

export const MiB = 1024 * 1024;
/** Payload bytes of concurrent bulk PUTs: keeps memory flat when units are large. */
const INFLIGHT_BYTES = 64 * MiB;
/** Concurrent GETs while reading a typed cell's records back. */
const READ_CONCURRENCY = 16;

/** Where a typed unit's record object is. */
interface RecordObject {
  bucket: string;
  name: string;
}

export class MinioSystem implements LabSystem {
  readonly name = "minio";
  private readonly conn: MinioConnection;
  private cell?: CellContext;

  constructor(
    private readonly lab: LabNamespace,
    private readonly options: MinioOptions,
    readonly capabilities: Capabilities,
  ) {
    this.conn = new MinioConnection(options);
  }

  private get s3() {
    return this.conn.s3;
  }

  async connect(): Promise<void> {
    await this.conn.connect(this.lab);
  }

  async close(): Promise<void> {
    this.conn.close();
  }

  private buckets(): string[] {
    return Array.from({ length: this.cell!.containers }, (_, k) => this.lab.objectName(this.cell!.cellKey, `c${k}`));
  }

  private bucket(u: UnitRef): string {
    return this.lab.objectName(this.cell!.cellKey, `c${u.container}`);
  }

  /** Remove every object version and delete marker of a lab bucket. */
  private async emptyBucket(bucket: string): Promise<void> {
    if (!this.lab.isLabObject(bucket)) throw this.conn.error(`refusing to empty non-lab bucket ${bucket}`);
    await this.conn.removeEntries(bucket, await this.conn.listVersions(bucket));
  }

  private async dropBucket(bucket: string): Promise<void> {
    let exists: boolean;
    try {
      exists = await this.s3.bucketExists(bucket);
    } catch (e) {
      throw this.conn.fail(`HeadBucket ${bucket}`, e);
    }
    if (!exists) return;
    await this.emptyBucket(bucket);
    try {
      await this.s3.removeBucket(bucket);
    } catch (e) {
      throw this.conn.fail(`DeleteBucket ${bucket}`, e);
    }
  }

  private get typed(): TypedCell | undefined {
    return this.cell?.typed;
  }

  /** Where a typed unit's record object lives: named by its unit id (surrogate) or natural key. */
  private recordObject(u: UnitRef, values: RecordValues): RecordObject {
    const t = this.typed!;
    const name = recordObjectName(t.keys, t.schema, u.id, values, u.sha256);
    return { bucket: this.lab.objectName(this.cell!.cellKey, `c${recordContainer(t.keys, u.container, name, this.cell!.containers)}`), name };
  }

  /** A typed unit's record object and its JSON document. */
  private documentOf(u: Unit): RecordObject & { body: Buffer } {
    const values = decodeRecord(this.typed!.schema, u.payload);
    return { ...this.recordObject(u, values), body: recordJson(this.typed!.schema, values) };
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
        throw this.conn.fail(`create bucket ${bucket}`, e);
      }
    }
  }

  private async put(u: Unit): Promise<void> {
    if (this.typed) return this.putRecord(u);
    try {
      if (u.payload.length > this.options.partSize) await this.putMultipart(this.bucket(u), u.id, u.payload);
      else await this.s3.putObject(this.bucket(u), u.id, u.payload, u.payload.length);
    } catch (e) {
      throw this.conn.fail(`PUT ${this.bucket(u)}/${u.id}`, e);
    }
  }

  /** A typed unit: its record's JSON document, one PUT (a natural key's duplicate overwrites the same object). */
  private async putRecord(u: Unit): Promise<void> {
    const r = this.documentOf(u);
    try {
      if (r.body.length > this.options.partSize) await this.putMultipart(r.bucket, r.name, r.body);
      else await this.s3.putObject(r.bucket, r.name, r.body, r.body.length, { "Content-Type": "application/json" });
    } catch (e) {
      throw this.conn.fail(`PUT ${r.bucket}/${r.name}`, e);
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
  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<OpStatus> {
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
    return OK;
  }

  async insert(u: Unit): Promise<OpStatus> {
    await this.put(u);
    return OK;
  }

  /** DELETE is idempotent in S3: a natural key's second delete (its duplicate's) finds the object gone and succeeds. */
  async delete(u: UnitRef): Promise<OpStatus> {
    const t = this.typed;
    const { bucket, name } = !t ? { bucket: this.bucket(u), name: u.id } : this.recordObject(u, t.keys === "natural" ? recordOf(u, (m) => this.conn.error(m)).values : []);
    try {
      await this.s3.removeObject(bucket, name);
    } catch (e) {
      throw this.conn.fail(`DELETE ${bucket}/${name}`, e);
    }
    return OK;
  }

  /** Nothing to wait for: a PUT returns once its shards are written; the scanner's usage metric is read separately and flagged when stale. */
  async settle(): Promise<OpStatus> {
    return OK;
  }

  async maintenance(name: string): Promise<OpStatus> {
    if (name === "purge_noncurrent") {
      for (const bucket of this.buckets()) {
        const stale = (await this.conn.listVersions(bucket)).filter((v) => !v.isLatest || v.isDeleteMarker);
        await this.conn.removeEntries(bucket, stale);
      }
      return OK;
    }
    if (name === "await_scanner") {
      const deadline = Date.now() + this.options.scannerTimeoutSeconds * 1000;
      for (;;) {
        const c = await scannerUsage(this.conn, this.options, this.buckets());
        if ("unreachable" in c) throw this.conn.error(`await_scanner: ${c.unreachable}`);
        if (!c.stale) return OK;
        if (Date.now() > deadline) {
          throw this.conn.error(`await_scanner: still ${c.stale} after ${this.options.scannerTimeoutSeconds} s — check \`mc admin scanner status\``);
        }
        await sleep(500);
      }
    }
    throw this.conn.error(`unknown maintenance "${name}" — use one of: ${Object.keys(this.capabilities.maintenance).join(", ")}`);
  }

  async reset(): Promise<void> {
    for (const bucket of this.buckets()) await this.emptyBucket(bucket);
  }

  /** Typed cells: the cell's current record objects, counted by listing its buckets (ListObjectsV2). */
  async storedRecords(): Promise<number | null> {
    if (!this.typed) return null;
    let n = 0;
    for (const bucket of this.buckets()) n += (await this.conn.listUsage(bucket)).objects;
    return n;
  }

  private async getObject(bucket: string, name: string): Promise<Buffer> {
    try {
      const chunks: Buffer[] = [];
      for await (const c of await this.s3.getObject(bucket, name)) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    } catch (e) {
      throw this.conn.fail(`GET ${bucket}/${name}`, e);
    }
  }

  /** Typed cells: every current record object of the cell's buckets (listed, then GET READ_CONCURRENCY at a time), decoded in schema order. */
  async *readRecords(): AsyncIterable<RecordValues> {
    const t = this.typed;
    if (!t) throw this.conn.error("readRecords: not a typed cell");
    for (const bucket of this.buckets()) {
      const names: string[] = [];
      try {
        for await (const o of this.s3.listObjectsV2(bucket, "", true)) names.push((o as Minio.BucketItem).name!);
      } catch (e) {
        throw this.conn.fail(`ListObjectsV2 ${bucket}`, e);
      }
      for (let i = 0; i < names.length; i += READ_CONCURRENCY) {
        const page = names.slice(i, i + READ_CONCURRENCY);
        const bodies = await Promise.all(page.map((n) => this.getObject(bucket, n)));
        for (let k = 0; k < page.length; k++) yield recordFromJson(t.schema, `${bucket}/${page[k]}`, bodies[k]!);
      }
    }
  }

  async sizes(): Promise<SizeReading[]> {
    return readMinioSizes(this.conn, this.options, this.buckets());
  }

  async snapshot(): Promise<unknown> {
    return readMinioSnapshot(this.conn, this.options, this.buckets());
  }

  async cleanup(scope?: string): Promise<void> {
    // The buckets of the scope (a cell key or a run token), or every lab bucket.
    const own = scope ? this.lab.objectName(scope) : this.lab.objectPrefix;
    let names: string[];
    try {
      names = (await this.s3.listBuckets()).map((b) => b.name);
    } catch (e) {
      // MinIO lists a restricted key only the buckets it may list, and refuses (AccessDenied)
      // when that is none; other S3 servers may refuse outright. Then clean this cell's buckets.
      if ((e as { code?: unknown }).code !== "AccessDenied") throw this.conn.fail("ListBuckets", e);
      names = this.cell ? this.buckets() : [];
    }
    for (const bucket of names.filter((n) => this.lab.isLabObject(n) && n.startsWith(own))) await this.dropBucket(bucket);
  }

  storagePaths(): string[] {
    return bucketDirs(this.options, this.cell ? this.buckets() : null) ?? [];
  }
}
