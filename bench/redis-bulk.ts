// Bulk-load throughput of the redis connector vs `redis-cli --pipe` on the same units, same
// server, same run. All write pre-generated units (generation is not measured), as the lab
// user, into the same keys; the keys are deleted (untimed) before every round.
//   npx tsx bench/redis-bulk.ts [units=2000] [unitSize=16384] [rounds=3]
import { spawn } from "node:child_process";
import { once } from "node:events";
import { closeSync, createWriteStream, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Dataset, DatasetSpecSchema } from "../lib/generators/dataset.js";
import { LabNamespace } from "../lib/systems/namespace.js";
import type { CellContext, Unit } from "../lib/systems/contract.js";
import { loadServicesEnv } from "../test/helpers/services-env.js";
import { median, mustBeOk, registrySystem, replay, reportRatio } from "./bench-lib.js";

const [units = 2000, unitSize = 16384, rounds = 3] = process.argv.slice(2).map(Number);
const env = loadServicesEnv();
const lab = new LabNamespace();
const ds = new Dataset(DatasetSpecSchema.parse({ payload: "random_binary", units, size: { min: unitSize, max: unitSize }, fraction: 0.5, containers: 4 }));
const batches: Unit[][] = [...ds.batches(4 * 1024 * 1024)];
const bytes = ds.totals.logical_bytes;
const dir = mkdtempSync(join(tmpdir(), "dedup-lab-bench-redis-"));
const cell: CellContext = { lab, cellKey: "benchredis", variant: "del", containers: ds.containers, workDir: dir, log: () => {} };

const { system } = await registrySystem("redis", { host: env.DEDUP_REDIS_HOST, port: env.DEDUP_REDIS_PORT, user: env.DEDUP_REDIS_USER, passwordEnv: "DEDUP_REDIS_PASSWORD" }, lab);

// The same units as RESP commands, written once, replayed by redis-cli --pipe: one SET per
// key (how --pipe is usually fed) and MSET groups of 512 KiB (what the connector sends).
const bulk = (b: Buffer) => Buffer.concat([Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n")]);
const command = (args: Buffer[]) => Buffer.concat([Buffer.from(`*${args.length}\r\n`), ...args.map(bulk)]);
async function writeResp(file: string, groupBytes: number | null): Promise<void> {
  const out = createWriteStream(file);
  let group: Buffer[] = [];
  let size = 0;
  const flush = async () => {
    if (group.length && !out.write(command([Buffer.from("MSET"), ...group]))) await once(out, "drain");
    group = [];
    size = 0;
  };
  for (const batch of batches) {
    for (const u of batch) {
      const key = Buffer.from(lab.key(cell.cellKey, `c${u.container}`, u.id));
      if (groupBytes === null) {
        if (!out.write(command([Buffer.from("SET"), key, u.payload]))) await once(out, "drain");
        continue;
      }
      if (group.length && size + u.payload.length > groupBytes) await flush();
      group.push(key, u.payload);
      size += u.payload.length;
    }
  }
  await flush();
  out.end();
  await once(out, "finish");
}
const respSet = join(dir, "set.resp");
const respMset = join(dir, "mset.resp");
await writeResp(respSet, null);
await writeResp(respMset, 512 * 1024);

const replayAll = () => replay(batches);

async function dedupLab(): Promise<number> {
  await system.prepare(cell);
  const t0 = process.hrtime.bigint();
  const status = await system.bulkInsert(replayAll());
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  mustBeOk(status, "bulkInsert");
  return secs;
}

async function redisCliPipe(respFile: string): Promise<number> {
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

const mbps = (secs: number) => bytes / 1e6 / secs;

await system.connect();
try {
  await dedupLab(); // warm-up: connections, JIT, server allocations
  const ours: number[] = [];
  const pipeSet: number[] = [];
  const pipeMset: number[] = [];
  // ABBA order, so drift (background AOF rewrites, other load) hits all sides alike
  for (let r = 0; r < rounds; r++) {
    const steps = [
      async () => pipeSet.push(mbps(await redisCliPipe(respSet))),
      async () => pipeMset.push(mbps(await redisCliPipe(respMset))),
      async () => ours.push(mbps(await dedupLab())),
    ];
    for (const step of r % 2 === 0 ? steps : steps.reverse()) await step();
  }
  await dedupLab();
  const stored = (await system.sizes()).find((x) => x.metric === "strlen_sum")!.bytes;
  if (stored !== bytes) throw new Error(`the connector stored ${stored} payload bytes, expected ${bytes}`);
  const line = (name: string, xs: number[]) => console.log(`  ${name.padEnd(30)} ${xs.map((x) => x.toFixed(0)).join(" / ")} MB/s  median ${median(xs).toFixed(1)}`);
  console.log(`redis bulk: ${units} units × ${unitSize} B = ${(bytes / 1e6).toFixed(1)} MB, ${rounds} rounds`);
  line("dedup-lab (pipelined MSET)", ours);
  line("redis-cli --pipe, SET per key", pipeSet);
  line("redis-cli --pipe, same MSETs", pipeMset);
  console.log(`  ratio dedup-lab / redis-cli --pipe (SET)  = ${(median(ours) / median(pipeSet)).toFixed(2)} (goal ≥ 0.9)`);
  console.log(`  ratio dedup-lab / redis-cli --pipe (MSET) = ${(median(ours) / median(pipeMset)).toFixed(2)}`);
  reportRatio("redis-bulk", "pipelined MSET bulk vs redis-cli --pipe (SET), MB/s", median(ours) / median(pipeSet), { atLeast: 0.9 });
  reportRatio("redis-bulk", "pipelined MSET bulk vs redis-cli --pipe (MSET), MB/s", median(ours) / median(pipeMset));
} finally {
  await system.cleanup();
  await system.close();
  rmSync(dir, { recursive: true, force: true });
}
