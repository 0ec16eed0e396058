// Bulk-load throughput of the minio connector vs `mc cp --recursive` of the same units (as
// files) into the same bucket, same server, same run, both with the lab access key. Units
// are generated before timing; the bucket is emptied between rounds.
//   npx tsx bench/minio-bulk.ts [units=1000] [unitSize=65536] [rounds=3] [concurrency=connector default]
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Dataset, DatasetSpecSchema } from "../lib/generators/dataset.js";
import { LabNamespace } from "../lib/systems/namespace.js";
import type { CellContext, Unit } from "../lib/systems/contract.js";
import { loadServicesEnv } from "../test/helpers/services-env.js";
import { median, mustBeOk, registrySystem, replay, reportRatio } from "./bench-lib.js";

const [units = 1000, unitSize = 65536, rounds = 3, concurrency] = process.argv.slice(2).map(Number);
const env = loadServicesEnv();
const lab = new LabNamespace();
// One container: both loaders write into one bucket.
const ds = new Dataset(DatasetSpecSchema.parse({ payload: "random_binary", units, size: { min: unitSize, max: unitSize }, fraction: 0.5, containers: 1 }));
const batches: Unit[][] = [...ds.batches(4 * 1024 * 1024)];
const bytes = ds.totals.logical_bytes;
const dir = mkdtempSync(join(tmpdir(), "dedup-lab-bench-minio-"));
const cell: CellContext = { lab, cellKey: "benchminio", variant: "unversioned", containers: 1, workDir: dir, log: () => {} };
const bucket = lab.objectName(cell.cellKey, "c0");

const files = join(dir, "units");
mkdirSync(files);
for (const batch of batches) for (const u of batch) writeFileSync(join(files, u.id), u.payload);

const { system, options } = await registrySystem<{ concurrency: number }>("minio", {
  endPoint: env.DEDUP_MINIO_HOST, port: env.DEDUP_MINIO_PORT,
  accessKeyEnv: "DEDUP_MINIO_ACCESS_KEY", secretKeyEnv: "DEDUP_MINIO_SECRET_KEY",
  ...(concurrency ? { concurrency } : {}),
}, lab);

const replayAll = () => replay(batches);

async function dedupLab(): Promise<number> {
  await system.reset();
  const t0 = process.hrtime.bigint();
  const status = await system.bulkInsert(replayAll());
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  mustBeOk(status, "bulkInsert");
  return secs;
}

async function mcCp(): Promise<number> {
  await system.reset();
  const alias = `http://${encodeURIComponent(env.DEDUP_MINIO_ACCESS_KEY!)}:${encodeURIComponent(env.DEDUP_MINIO_SECRET_KEY!)}@${env.DEDUP_MINIO_HOST}:${env.DEDUP_MINIO_PORT}`;
  const t0 = process.hrtime.bigint();
  const child = spawn(env.DEDUP_MINIO_MC!, ["--quiet", "--no-color", "cp", "--recursive", `${files}/`, `lab/${bucket}/`], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, MC_CONFIG_DIR: join(dir, "mc"), MC_HOST_lab: alias },
  });
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  const [code] = await once(child, "exit");
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (code !== 0) throw new Error(`mc cp failed (exit ${code}): ${err.trim().split("\n")[0]}`);
  return secs;
}

const mbps = (secs: number) => bytes / 1e6 / secs;

await system.connect();
try {
  await system.prepare(cell);
  await dedupLab(); // warm-up
  const ours: number[] = [];
  const native: number[] = [];
  // ABBA order, so drift (scanner, other load) hits both sides alike
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      native.push(mbps(await mcCp()));
      ours.push(mbps(await dedupLab()));
    } else {
      ours.push(mbps(await dedupLab()));
      native.push(mbps(await mcCp()));
    }
  }
  const listed = (await system.sizes()).find((s) => s.metric === "list_objects_v2_bytes")!.bytes;
  if (listed !== bytes) throw new Error(`bucket holds ${listed} bytes after the last round, expected ${bytes}`);
  const ratio = median(ours) / median(native);
  console.log(`minio bulk: ${units} objects × ${unitSize} B = ${(bytes / 1e6).toFixed(1)} MB, ${rounds} rounds`);
  console.log(`  dedup-lab putObject ×${options.concurrency}   ${ours.map((x) => x.toFixed(0)).join(" / ")} MB/s  median ${median(ours).toFixed(1)}`);
  console.log(`  mc cp --recursive        ${native.map((x) => x.toFixed(0)).join(" / ")} MB/s  median ${median(native).toFixed(1)}`);
  console.log(`  ratio dedup-lab / mc cp = ${ratio.toFixed(2)} (goal ≥ 0.9)`);
  reportRatio("minio-bulk", `putObject ×${options.concurrency} bulk vs mc cp --recursive, MB/s`, ratio, { atLeast: 0.9 });
} finally {
  await system.cleanup();
  await system.close();
  rmSync(dir, { recursive: true, force: true });
}
