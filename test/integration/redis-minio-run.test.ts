// The runner end to end on Redis and MinIO: the shipped config through the CLI writes every
// stage and size layer to the bundle and leaves nothing outside (or inside) the lab namespace.
// (A server killed mid-stage and the run resumed: test/contract/systems.contract.test.ts.)
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import * as Minio from "minio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readMeta } from "../../lib/results/bundle.js";
import { loadSystems } from "../../lib/systems/registry.js";
import { ROOT, loadServicesEnv } from "../helpers/services-env.js";
import { TempDirs, bundleText, rowsOf } from "../helpers/bundles.js";

const run = promisify(execFile);
const env = loadServicesEnv();
const temps = new TempDirs("dedup-lab-redisminio-run-");
const tempDir = () => temps.make();

const redisAdmin = () => new Redis({ host: "127.0.0.1", port: Number(env.DEDUP_REDIS_PORT), password: env.DEDUP_REDIS_ADMIN_PASSWORD, maxRetriesPerRequest: 1 });
const minioAdmin = new Minio.Client({
  endPoint: "127.0.0.1", port: Number(env.DEDUP_MINIO_PORT), useSSL: false, region: "us-east-1", pathStyle: true,
  accessKey: env.DEDUP_MINIO_ROOT_USER!, secretKey: env.DEDUP_MINIO_ROOT_PASSWORD!,
});

async function labKeys(): Promise<string[]> {
  const r = redisAdmin();
  try {
    return (await r.scan("0", "MATCH", "dedup:*", "COUNT", 100000))[1];
  } finally {
    r.disconnect();
  }
}

beforeAll(async () => {
  await loadSystems(["redis", "minio"]);
});
afterAll(async () => {
  temps.removeAll();
  // The bystanders go even when an assertion failed, so no later suite finds them.
  const r = redisAdmin();
  try {
    await r.del("other:run-keep");
  } finally {
    r.disconnect();
  }
  if (await minioAdmin.bucketExists("other-run-keep")) {
    await minioAdmin.removeObject("other-run-keep", "keep.txt");
    await minioAdmin.removeBucket("other-run-keep");
  }
});

describe("dedup-lab run --systems redis,minio --config examples/local-services.yaml", () => {
  it("writes all stages and size layers to the bundle and touches nothing outside the lab", async () => {
    const r = redisAdmin();
    await r.set("other:run-keep", "kept");
    if (!(await minioAdmin.bucketExists("other-run-keep"))) await minioAdmin.makeBucket("other-run-keep", "us-east-1");
    await minioAdmin.putObject("other-run-keep", "keep.txt", Buffer.from("kept"));

    const out = join(tempDir(), "bundle");
    const { stdout } = await run(process.execPath, [
      join(ROOT, "bin/dedup-lab.js"), "run", "--systems", "redis,minio", "--config", join(ROOT, "examples/local-services.yaml"),
      "--payloads", "random_binary", "--units", "12", "--out", out, "--quiet",
    ], { cwd: ROOT, env: process.env, timeout: 300_000 });
    expect(stdout).toMatch(/8 cells done, 0 failed/);
    expect(await readMeta(out)).toMatchObject({ status: "complete", cells_done: 8, cells_failed: 0 });

    const rows = await rowsOf(out);
    const cells = [...new Set(rows.map((x) => x.cell_id))].sort();
    expect(cells).toEqual([
      "minio.unversioned.random_binary.U0.file.within.r1", "minio.unversioned.random_binary.U90.file.within.r1",
      "minio.versioned.random_binary.U0.file.within.r1", "minio.versioned.random_binary.U90.file.within.r1",
      "redis.del.random_binary.U0.file.within.r1", "redis.del.random_binary.U90.file.within.r1",
      "redis.unlink.random_binary.U0.file.within.r1", "redis.unlink.random_binary.U90.file.within.r1",
    ]);
    for (const cell of cells) {
      for (const stage of ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"]) {
        expect(rows.some((x) => x.cell_id === cell && x.stage === stage && x.metric === "stage_end"), `${cell} ${stage}`).toBe(true);
        for (const layer of ["L1", "L2", "L3"]) {
          const sizes = rows.filter((x) => x.cell_id === cell && x.stage === stage && x.metric === "size_bytes" && x.layer === layer);
          expect(sizes.length, `${cell} ${stage} ${layer}`).toBeGreaterThan(0);
          for (const s of sizes) expect(s.value, `${cell} ${stage} ${layer} ${s.phase}: ${s.reason}`).not.toBeNull();
        }
      }
    }
    const after = (cell: string, stage: string, layer: string) =>
      rows.find((x) => x.cell_id === cell && x.stage === stage && x.metric === "size_bytes" && x.layer === layer && x.phase === "after")!.value!;
    const logical = 12 * 16384;
    expect(after("minio.unversioned.random_binary.U90.file.within.r1", "bulk_insert", "L1")).toBe(logical);
    expect(after("redis.del.random_binary.U90.file.within.r1", "bulk_insert", "L1")).toBeGreaterThan(logical);
    // versioned bucket: the listing is empty after the deletes, the drive still holds every byte until the purge
    expect(after("minio.versioned.random_binary.U0.file.within.r1", "perfile_delete", "L1")).toBe(0);
    expect(after("minio.versioned.random_binary.U0.file.within.r1", "perfile_delete", "L2")).toBeGreaterThanOrEqual(logical);
    // after the purge the drive is back at the empty bucket's recorded baseline (its directory's own blocks, no object data)
    const emptyL2 = rows.find((x) => x.cell_id === "minio.versioned.random_binary.U0.file.within.r1" && x.stage === "prepare" && x.metric === "size_bytes" && x.layer === "L2")!.value!;
    expect(emptyL2).toBeLessThan(65536);
    expect(after("minio.versioned.random_binary.U0.file.within.r1", "maintenance", "L2")).toBe(emptyL2);

    const text = bundleText(out);
    for (const secret of ["DEDUP_REDIS_PASSWORD", "DEDUP_REDIS_ADMIN_PASSWORD", "DEDUP_MINIO_SECRET_KEY", "DEDUP_MINIO_ROOT_PASSWORD"]) {
      expect(text.includes(env[secret]!), secret).toBe(false);
    }
    // audit: nothing of the lab left, bystanders intact
    expect(await labKeys()).toEqual([]);
    expect((await minioAdmin.listBuckets()).map((b) => b.name).filter((n) => n.startsWith("dedup-lab-"))).toEqual([]);
    expect(await r.get("other:run-keep")).toBe("kept");
    const names: string[] = [];
    for await (const o of minioAdmin.listObjectsV2("other-run-keep", "", true)) names.push((o as Minio.BucketItem).name!);
    expect(names).toEqual(["keep.txt"]);
    await r.del("other:run-keep");
    r.disconnect();
    await minioAdmin.removeObject("other-run-keep", "keep.txt");
    await minioAdmin.removeBucket("other-run-keep");
  }, 600_000);
});
