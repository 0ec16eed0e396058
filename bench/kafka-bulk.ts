// Bulk-produce throughput of the kafka connector (kafkajs, acks=all, 64-byte hex key + value)
// vs kafka-producer-perf-test (org.apache.kafka.tools.ProducerPerformance from the same Kafka
// jars the broker runs) with the same record count and value size, acks=all, in the same run,
// each into its own freshly created lab topic with identical settings (delete_none: no codec,
// so payload content does not matter). Units are generated before any clock starts.
// ProducerPerformance reports its own MB/s (MiB/s, value bytes, JVM start-up excluded): that
// is the fair native number; its whole-process rate is printed too. It runs twice per round:
// with the Java producer's defaults (batch.size 16 KiB, linger.ms 5) and with batch.size set to
// the connector's produce request size (1 MiB); the ratio is taken against the faster of the two.
//   npx tsx bench/kafka-bulk.ts [units=4000] [unitSize=16384] [rounds=3]
import { spawn } from "node:child_process";
import { once } from "node:events";
import { Dataset, DatasetSpecSchema } from "../lib/generators/dataset.js";
import { LabNamespace } from "../lib/systems/namespace.js";
import type { CellContext, Unit } from "../lib/systems/contract.js";
import { loadServicesEnv } from "../test/helpers/services-env.js";
import { median, mustBeOk, registrySystem, replay, reportRatio } from "./bench-lib.js";

const [units = 4000, unitSize = 16384, rounds = 3] = process.argv.slice(2).map(Number);
const env = loadServicesEnv();
const perfTest = env.DEDUP_KAFKA_PERF_TEST;
if (!perfTest) throw new Error("DEDUP_KAFKA_PERF_TEST missing from .services/env — run: scripts/services.sh up kafka");
const lab = new LabNamespace();
const ds = new Dataset(DatasetSpecSchema.parse({ payload: "random_binary", units, size: { min: unitSize, max: unitSize }, fraction: 0, containers: 1 }));
const batches: Unit[][] = [...ds.batches(4 * 1024 * 1024)];
const valueBytes = ds.totals.logical_bytes;
const cellFor = (cellKey: string): CellContext => ({ lab, cellKey, variant: "delete_none", containers: 1, workDir: "/tmp", log: () => {} });
const ours = cellFor("benchk");
const native = cellFor("benchperf");
const { system } = await registrySystem("kafka", { brokers: env.DEDUP_KAFKA_BROKERS }, lab);

const replayAll = () => replay(batches);

/** dedup-lab bulk stage: seconds inside bulkInsert (what the runner times). */
async function dedupLab(): Promise<number> {
  await system.prepare(ours);
  const t0 = process.hrtime.bigint();
  const status = await system.bulkInsert(replayAll());
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  mustBeOk(status, "bulkInsert");
  return secs;
}

/** Returns [ProducerPerformance's own MiB/s, whole-process MiB/s]. */
async function producerPerfTest(extraProps: string[] = []): Promise<[number, number]> {
  await system.prepare(native);
  const topic = lab.objectName(native.cellKey, "c0");
  const t0 = process.hrtime.bigint();
  const child = spawn(perfTest!, [
    "--topic", topic, "--num-records", String(units), "--record-size", String(unitSize), "--throughput", "-1",
    "--producer-props", `bootstrap.servers=${env.DEDUP_KAFKA_BROKERS}`, "acks=all", "compression.type=none", ...extraProps,
  ], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  const [code] = await once(child, "exit");
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  // "4000 records sent, 2083.3 records/sec (32.55 MB/sec), …" — the last such line is the total.
  const totals = [...out.matchAll(/(\d+) records sent, [\d.]+ records\/sec \(([\d.]+) MB\/sec\)/g)].at(-1);
  if (code !== 0 || !totals || Number(totals[1]) !== units) throw new Error(`kafka-producer-perf-test failed (exit ${code}): ${out.trim().split("\n").at(-1)}`);
  return [Number(totals[2]), valueBytes / 2 ** 20 / wall];
}

const mibps = (secs: number) => valueBytes / 2 ** 20 / secs;

await system.connect();
try {
  await dedupLab(); // warm-up: JIT, broker log creation, page cache
  await producerPerfTest();
  const ourRates: number[] = [];
  const nativeRates: number[] = [];
  const nativeWall: number[] = [];
  const tunedRates: number[] = [];
  const tuned = ["batch.size=1048576", "linger.ms=5"];
  for (let r = 0; r < rounds; r++) {
    const [rate, wall] = await producerPerfTest();
    nativeRates.push(rate);
    nativeWall.push(wall);
    ourRates.push(mibps(await dedupLab()));
    tunedRates.push((await producerPerfTest(tuned))[0]);
  }
  const f = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(" / ");
  const best = Math.max(median(nativeRates), median(tunedRates));
  console.log(`kafka bulk: ${units} records × ${unitSize} B values = ${(valueBytes / 2 ** 20).toFixed(1)} MiB, acks=all, no compression, ${rounds} rounds (MiB/s of value bytes)`);
  console.log(`  dedup-lab bulkInsert (kafkajs)                 ${f(ourRates)}  median ${median(ourRates).toFixed(1)}`);
  console.log(`  kafka-producer-perf-test defaults (own report) ${f(nativeRates)}  median ${median(nativeRates).toFixed(1)}`);
  console.log(`  kafka-producer-perf-test defaults (process)    ${f(nativeWall)}  median ${median(nativeWall).toFixed(1)}`);
  console.log(`  kafka-producer-perf-test batch.size=1MiB       ${f(tunedRates)}  median ${median(tunedRates).toFixed(1)}`);
  console.log(`  ratio dedup-lab / best perf-test = ${(median(ourRates) / best).toFixed(2)} (goal ≥ 0.9); vs defaults ${(median(ourRates) / median(nativeRates)).toFixed(2)}, vs whole default process ${(median(ourRates) / median(nativeWall)).toFixed(2)}`);
  reportRatio("kafka-bulk", "acks=all produce (kafkajs) vs best kafka-producer-perf-test, MiB/s", median(ourRates) / best, { atLeast: 0.9 });
  console.log(`  (dedup-lab records also carry a 64-byte key: ${((units * 64) / 2 ** 20).toFixed(1)} MiB more on the wire, not counted)`);
} finally {
  await system.cleanup();
  await system.close();
}
