// Connecting to MinIO (or any S3 server) through the minio client: credentials from the
// environment, a signed probe that checks endpoint and credentials together, one-line error
// wording with hints, and the S3 listing/deleting calls the connector and its size readers share.
import * as Minio from "minio";
import { SystemError, errorMessage } from "../../errors.js";
import type { LabNamespace } from "../namespace.js";
import { firstLine } from "../server-errors.js";

/** What the connection needs of the minio options block. */
export interface MinioConnectionOptions {
  endPoint: string;
  port: number;
  useSSL: boolean;
  accessKeyEnv: string;
  secretKeyEnv: string;
  region: string;
  partSize: number;
}

export function minioEndpoint(o: { endPoint: string; port: number }): string {
  return `${o.endPoint}:${o.port}`;
}

export interface VersionEntry {
  name: string;
  versionId?: string;
  size: number;
  isLatest: boolean;
  isDeleteMarker: boolean;
}

export interface BucketUsage {
  bytes: number;
  objects: number;
}

function hintFor(code: unknown): string {
  if (code === "InvalidAccessKeyId" || code === "SignatureDoesNotMatch") return " — check accessKeyEnv and secretKeyEnv";
  if (code === "AccessDenied") return " — the access key's policy must allow s3:* on the lab buckets";
  return "";
}

export class MinioConnection {
  private client?: Minio.Client;
  readonly endpoint: string;

  constructor(private readonly o: MinioConnectionOptions) {
    this.endpoint = minioEndpoint(o);
  }

  /** A SystemError with this system and endpoint. */
  error(message: string): SystemError {
    return new SystemError("minio", this.endpoint, message);
  }

  fail(what: string, e: unknown): SystemError {
    const code = (e as { code?: unknown })?.code;
    const msg = firstLine(errorMessage(e));
    const text = typeof code === "string" && !msg.includes(code) ? `${code}: ${msg}` : msg;
    return this.error(`${what}: ${text}${hintFor(code)}`);
  }

  get s3(): Minio.Client {
    if (!this.client) throw this.error("not connected (call connect first)");
    return this.client;
  }

  /** The value of a credential variable, or a SystemError naming it. */
  secret(envName: string): string {
    const v = process.env[envName];
    if (v === undefined || v === "") {
      throw this.error(`environment variable ${envName} is not set — export it (local services: .services/env)`);
    }
    return v;
  }

  async connect(lab: LabNamespace): Promise<void> {
    if (this.client) return;
    const o = this.o;
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
    const probe = lab.objectName("probe");
    try {
      await client.listObjectsV2Query(probe, "", "", "", 1, "");
    } catch (e) {
      if ((e as { code?: unknown }).code !== "NoSuchBucket") throw this.fail("connect failed", e);
    }
    this.client = client;
  }

  close(): void {
    this.client = undefined;
  }

  async listVersions(bucket: string): Promise<VersionEntry[]> {
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
  async listUsage(bucket: string): Promise<BucketUsage> {
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

  async removeEntries(bucket: string, entries: { name: string; versionId?: string }[]): Promise<void> {
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
      throw this.error(`DeleteObjects in ${bucket}: ${bad.length} failed, first ${first.Key}: ${first.Code} ${first.Message ?? ""}`.trim());
    }
  }
}
