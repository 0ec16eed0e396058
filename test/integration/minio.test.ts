// The minio connector against the real local MinIO server (scripts/services.sh up minio):
// full cells for every variant and maintenance, multipart, the bucket-prefix audit, the
// restricted lab key, and the error messages users see.
import { createHash } from "node:crypto";
import * as Minio from "minio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabNamespace } from "../../lib/systems/namespace.js";
import type { SizeReading } from "../../lib/systems/contract.js";
import { minioDefinition } from "../../lib/systems/minio/minio-options.js";
import { primary, runCellThrough, smallDataset } from "../helpers/contract-harness.js";
import { loadServicesEnv } from "../helpers/services-env.js";

const env = loadServicesEnv();
const lab = new LabNamespace();
const endpoint = `127.0.0.1:${env.DEDUP_MINIO_PORT}`;
const MiB = 1024 * 1024;

function options(over: Record<string, unknown> = {}) {
  return minioDefinition.options.parse({
    endPoint: env.DEDUP_MINIO_HOST,
    port: env.DEDUP_MINIO_PORT,
    accessKeyEnv: "DEDUP_MINIO_ACCESS_KEY",
    secretKeyEnv: "DEDUP_MINIO_SECRET_KEY",
    dataDir: env.DEDUP_MINIO_DATA_DIR,
    metricsUrl: env.DEDUP_MINIO_METRICS_URL,
    scannerTimeoutSeconds: 90,
    ...over,
  });
}

const client = (accessKey: string, secretKey: string) =>
  new Minio.Client({ endPoint: "127.0.0.1", port: Number(env.DEDUP_MINIO_PORT), useSSL: false, accessKey, secretKey, region: "us-east-1", pathStyle: true });
const admin = client(env.DEDUP_MINIO_ROOT_USER!, env.DEDUP_MINIO_ROOT_PASSWORD!);
const labKey = client(env.DEDUP_MINIO_ACCESS_KEY!, env.DEDUP_MINIO_SECRET_KEY!);
// Buckets a careless prefix match would hit: other apps, look-alikes, the bare prefix.
const bystanders = ["other-keep", "dedup-labx-keep", "dedup-lab", "xdedup-lab-keep"];

async function listNames(c: Minio.Client, bucket: string): Promise<string[]> {
  const names: string[] = [];
  for await (const o of c.listObjectsV2(bucket, "", true)) names.push((o as Minio.BucketItem).name!);
  return names;
}

beforeAll(async () => {
  for (const b of bystanders) {
    if (!(await admin.bucketExists(b))) await admin.makeBucket(b, "us-east-1");
    await admin.putObject(b, "keep.txt", Buffer.from(`content of ${b}`));
  }
});

afterAll(async () => {
  for (const b of bystanders) {
    await admin.removeObject(b, "keep.txt");
    await admin.removeBucket(b);
  }
});

async function expectBystandersIntact(): Promise<void> {
  for (const b of bystanders) {
    expect(await listNames(admin, b)).toEqual(["keep.txt"]);
    const body = await admin.getObject(b, "keep.txt");
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe(`content of ${b}`);
  }
}

const reading = (rs: SizeReading[], metric: string) => rs.find((r) => r.metric === metric)!;

describe("minio connector on a real server", () => {
  // Every variant and every maintenance; await_scanner only once, as it waits for MinIO's
  // bucket-usage metric, which the server caches for a minute.
  const cells: [string, string][] = [
    ["unversioned", "purge_noncurrent"],
    ["versioned", "purge_noncurrent"],
    ["versioned", "await_scanner"],
  ];
  it("covers every variant and maintenance", () => {
    expect(new Set(cells.map((c) => c[0]))).toEqual(new Set(Object.keys(minioDefinition.capabilities.variants)));
    expect(new Set(cells.map((c) => c[1]))).toEqual(new Set(Object.keys(minioDefinition.capabilities.maintenance)));
  });
  for (const [variant, maintenance] of cells) {
    it(`runs a full cell: variant ${variant}, maintenance ${maintenance}`, async () => {
      const system = minioDefinition.create(options(), lab);
      const ds = smallDataset();
      const r = await runCellThrough(system, { variant, maintenance, dataset: ds });
      const logical = ds.totals.logical_bytes;

      expect(primary(r.sizes.prepared, "L1")).toBe(0);
      expect(primary(r.sizes.bulk, "L1")).toBe(logical);
      expect(primary(r.sizes.reset, "L1")).toBe(0);
      expect(reading(r.sizes.reset, "list_object_versions_bytes").bytes).toBe(0);
      expect(primary(r.sizes.perfile, "L1")).toBe(logical);
      expect(primary(r.sizes.deleted, "L1")).toBe(0);
      // data on the drive: at least the payload, in the buckets' directories
      expect(primary(r.sizes.bulk, "L2")!).toBeGreaterThanOrEqual(logical);
      for (const stage of Object.values(r.sizes)) {
        expect(stage.filter((x) => x.layer === "L1" && x.primary)).toHaveLength(1);
        expect(stage.filter((x) => x.layer === "L2" && x.primary)).toHaveLength(1);
      }
      if (variant === "versioned") {
        // deleting leaves noncurrent versions: listing says 0, the drive still holds the data
        expect(reading(r.sizes.deleted, "list_object_versions_bytes").bytes).toBe(logical);
        expect(primary(r.sizes.deleted, "L2")!).toBeGreaterThanOrEqual(logical);
      } else {
        expect(reading(r.sizes.deleted, "list_object_versions_bytes").bytes).toBe(0);
        expect(primary(r.sizes.deleted, "L2")!).toBeLessThan(logical);
      }
      if (maintenance === "purge_noncurrent") {
        expect(reading(r.sizes.maintained, "list_object_versions_bytes").bytes).toBe(0);
        expect(primary(r.sizes.maintained, "L2")!).toBeLessThan(logical);
      } else {
        // right after the bulk load the scanner had not seen the cell's new buckets
        expect(reading(r.sizes.bulk, "minio_bucket_usage_total_bytes").reason).toMatch(/^stale: scanner /);
        const scanner = reading(r.sizes.maintained, "minio_bucket_usage_total_bytes");
        expect(scanner.reason).toBeUndefined();
        // the scanner counts noncurrent versions too: it agrees with the version listing
        expect(scanner.bytes).toBe(reading(r.sizes.maintained, "list_object_versions_bytes").bytes);
        expect(scanner.bytes).toBe(variant === "versioned" ? logical : 0);
      }
      const snap = r.snapshots[0] as { buckets: Record<string, { versioning: unknown }> };
      expect(Object.keys(snap.buckets)).toHaveLength(ds.containers);
      for (const b of Object.keys(snap.buckets)) expect(lab.isLabObject(b)).toBe(true);

      // audit: the cell's buckets are gone, bystanders untouched
      const names = (await admin.listBuckets()).map((b) => b.name);
      expect(names.filter((n) => lab.isLabObject(n))).toEqual([]);
      for (const b of bystanders) expect(names).toContain(b);
      await expectBystandersIntact();
    });
  }

  it("round-trips an object larger than one part through multipart upload", async () => {
    const system = minioDefinition.create(options({ partSize: 5 * MiB }), lab);
    const ds = smallDataset({ units: 2, fraction: 0, size: { min: 6 * MiB + 321, max: 6 * MiB + 321 }, containers: 1 });
    const cell = { lab, cellKey: "multipart", variant: "unversioned", containers: 1, workDir: "/tmp", log: () => {} };
    await system.connect();
    try {
      await system.prepare(cell);
      const units = [...ds.units()];
      await system.bulkInsert((async function* () { yield units.slice(0, 1); })());
      await system.insert(units[1]!);
      const bucket = lab.objectName("multipart", "c0");
      for (const u of units) {
        const stat = await admin.statObject(bucket, u.id);
        expect(stat.size).toBe(u.size);
        expect(stat.etag).toMatch(/-2$/); // multipart ETag: md5-of-part-md5s, dash, part count
        const hash = createHash("sha256");
        for await (const c of await admin.getObject(bucket, u.id)) hash.update(c as Buffer);
        expect(hash.digest().equals(u.sha256)).toBe(true);
      }
      expect(primary(await system.sizes(), "L1")).toBe(2 * (6 * MiB + 321));
    } finally {
      await system.cleanup();
      await system.close();
    }
    expect(await admin.bucketExists(lab.objectName("multipart", "c0"))).toBe(false);
  });

  it("the lab access key is refused outside dedup-lab-*", async () => {
    await expect(labKey.makeBucket("other-made-by-lab", "us-east-1")).rejects.toMatchObject({ code: "AccessDenied" });
    await expect(labKey.putObject("other-keep", "x.txt", Buffer.from("x"))).rejects.toMatchObject({ code: "AccessDenied" });
    await expect(labKey.removeObject("dedup-labx-keep", "keep.txt")).rejects.toMatchObject({ code: "AccessDenied" });
    await expect(listNames(labKey, "other-keep")).rejects.toMatchObject({ code: "AccessDenied" });
    await expect(labKey.removeBucket("dedup-lab")).rejects.toMatchObject({ code: "AccessDenied" });
    await labKey.makeBucket("dedup-lab-acl-probe", "us-east-1");
    await labKey.removeBucket("dedup-lab-acl-probe");
    expect(await admin.bucketExists("other-made-by-lab")).toBe(false);
    await expectBystandersIntact();
  });

  it("reports unreadable layers as null with a reason", async () => {
    const system = minioDefinition.create(options({ dataDir: undefined, metricsUrl: "http://127.0.0.1:59199/minio/v2/metrics/bucket" }), lab);
    const r = await runCellThrough(system, { dataset: smallDataset({ units: 2, containers: 1 }) });
    const scanner = reading(r.sizes.bulk, "minio_bucket_usage_total_bytes");
    expect(scanner.bytes).toBeNull();
    expect(scanner.reason).toMatch(/^metrics endpoint http:\/\/127\.0\.0\.1:59199\/minio\/v2\/metrics\/bucket unreachable: .*ECONNREFUSED/);
    const l2 = r.sizes.bulk.find((x) => x.layer === "L2" && x.primary)!;
    expect(l2).toMatchObject({ bytes: null, reason: expect.stringMatching(/dataDir not set/) });
  });

  it("wrong credentials give one clear line without the secret", async () => {
    process.env.DEDUP_MINIO_TEST_WRONG_SECRET = "not-the-secret-4711";
    process.env.DEDUP_MINIO_TEST_WRONG_KEY = "nobody";
    const wrongSecret = minioDefinition.create(options({ secretKeyEnv: "DEDUP_MINIO_TEST_WRONG_SECRET" }), lab);
    const e1 = await wrongSecret.connect().then(() => null, (e: Error) => e);
    expect(e1?.message).toMatch(new RegExp(`^minio at ${endpoint}: connect failed: SignatureDoesNotMatch: .* — check accessKeyEnv and secretKeyEnv$`));
    const wrongKey = minioDefinition.create(options({ accessKeyEnv: "DEDUP_MINIO_TEST_WRONG_KEY" }), lab);
    const e2 = await wrongKey.connect().then(() => null, (e: Error) => e);
    expect(e2?.message).toMatch(new RegExp(`^minio at ${endpoint}: connect failed: InvalidAccessKeyId: .* — check accessKeyEnv and secretKeyEnv$`));
    for (const e of [e1!, e2!]) {
      expect(e.message.split("\n")).toHaveLength(1);
      expect(e.message).not.toContain("not-the-secret-4711");
      expect(e.message).not.toContain(env.DEDUP_MINIO_SECRET_KEY!);
    }
  });

  it("an unreachable endpoint gives one clear line", async () => {
    const system = minioDefinition.create(options({ port: 1 }), lab);
    await expect(system.connect()).rejects.toThrow(/^minio at 127\.0\.0\.1:1: connect failed: .*ECONNREFUSED.*$/);
  });

  it("a missing credentials variable is named", async () => {
    const system = minioDefinition.create(options({ secretKeyEnv: "DEDUP_MINIO_UNSET_FOR_TEST" }), lab);
    await expect(system.connect()).rejects.toThrow(/environment variable DEDUP_MINIO_UNSET_FOR_TEST is not set/);
  });
});
