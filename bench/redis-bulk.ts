// Bulk-load throughput of the redis connector vs `redis-cli --pipe` on the same units, same
// server, same run. Both write pre-generated units (generation is not measured), as the lab
// user, into the same keys; the keys are deleted between rounds.
//   npx tsx bench/redis-bulk.ts [units=2000] [unitSize=16384] [rounds=3]
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, mkdtempSync, rmSync, statSync, openSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Dataset, DatasetSpecSchema } from "../lib/generators/dataset.js";
import { LabNamespace } from "../lib/runner/namespace.js";
import type { CellContext, Unit } from "../lib/systems/contract.js";
import { redisDefinition } from "../lib/systems/redis/redis-system.js";
import { loadServicesEnv } from "../test/helpers/services-env.js";

const [units = 2000, unitSize = 16384, rounds = 3] = process.argv.slice(2).map(Number);
const env = loadServicesEnv();
const lab = new LabNamespace();
const ds = new Dataset(DatasetSpecSchema.parse({ payload: "random_binary", units, size: { min: unitSize, max: unitSize }, fraction: 0.5, containers: 4 }));
const batches: Unit[][] = [...ds.batches(4 * 1024 * 1024)];
const bytes = ds.totals.logical_bytes;
const dir = mkdtempSync(join(tmpdir(), "dedup-lab-bench-redis-"));
const cell: CellContext = { lab, cellKey: "benchredis", variant: "del", containers: ds.containers, workDir: dir, log: () => {} };

const system = redisDefinition.create(
  redisDefinition.options.parse({ host: env.DEDUP_REDIS_HOST, port: env.DEDUP_REDIS_PORT, user: env.DEDUP_REDIS_USER, passwordEnv: "DEDUP_REDIS_PASSWORD" }),
  lab,
);

// The same SET commands in RESP, written once, replayed by redis-cli --pipe.
const respFile = join(dir, "units.resp");
{
  const out = createWriteStream(respFile);
  const bulk = (b: Buffer) => Buffer.concat([Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n")]);
  for (const batch of batches) {
    for (const u of batch) {
      const key = lab.key(cell.cellKey, `c${u.container}`, u.id);
      if (!out.write(Buffer.concat([Buffer.from("*3\r\n"), bulk(Buffer.from("SET")), bulk(Buffer.from(key)), bulk(u.payload)]))) await once(out, "drain");
    }
  }
  out.end();
  await once(out, "finish");
}

async function* replay(): AsyncGenerator<Unit[]> {
  yield* batches;
}

async function dedupLab(): Promise<number> {
  await system.prepare(cell);
  const t0 = process.hrtime.bigint();
  await system.bulkInsert(replay());
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function redisCliPipe(): Promise<number> {
  await system.prepare(cell);
  const fd = openSync(respFile, "r");
  const t0 = process.hrtime.bigint();
  const child = spawn("redis-cli", ["-h", env.DEDUP_REDIS_HOST!, "-p", env.DEDUP_REDIS_PORT!, "--user", env.DEDUP_REDIS_USER!, "--no-auth-warning", "--pipe"], {
    stdio: [fd, "pipe", "inherit"],
    env: { ...process.env, REDISCLI_AUTH: env.DEDUP_REDIS_PASSWORD },
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  const [code] = await once(child, "exit");
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  closeSync(fd);
  if (code !== 0 || !/errors: 0, replies: (\d+)/.test(out)) throw new Error(`redis-cli --pipe failed: ${out.trim()}`);
  return secs;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mbps = (secs: number) => bytes / 1e6 / secs;

await system.connect();
try {
  await dedupLab(); // warm-up: connections, JIT, server allocations
  const ours: number[] = [];
  const native: number[] = [];
  for (let r = 0; r < rounds; r++) {
    native.push(mbps(await redisCliPipe()));
    ours.push(mbps(await dedupLab()));
  }
  const ratio = median(ours) / median(native);
  console.log(`redis bulk: ${units} units × ${unitSize} B = ${(bytes / 1e6).toFixed(1)} MB (RESP file ${(statSync(respFile).size / 1e6).toFixed(1)} MB), ${rounds} rounds`);
  console.log(`  dedup-lab pipelined SET   ${ours.map((x) => x.toFixed(0)).join(" / ")} MB/s  median ${median(ours).toFixed(1)}`);
  console.log(`  redis-cli --pipe          ${native.map((x) => x.toFixed(0)).join(" / ")} MB/s  median ${median(native).toFixed(1)}`);
  console.log(`  ratio dedup-lab / redis-cli --pipe = ${ratio.toFixed(2)} (goal ≥ 0.9)`);
} finally {
  await system.cleanup();
  await system.close();
  rmSync(dir, { recursive: true, force: true });
}
