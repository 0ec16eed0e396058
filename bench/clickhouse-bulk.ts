// Bulk-load throughput of the clickhouse connector (streaming RowBinary over HTTP) vs
// `clickhouse-client` (native TCP protocol) inserting the same units from a RowBinary file in
// the same format, same server, same run, both as the lab user into the same freshly created
// table. Units are generated before any clock starts and the file is written outside the
// timer. The client is timed twice: its own query time (`--time`; the fair one, ours excludes
// connect too) and the whole process (start-up and login included).
//   npx tsx bench/clickhouse-bulk.ts [units=400] [unitSize=131072] [rounds=3]
import { ClickHouseLogLevel, createClient } from "@clickhouse/client";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, mkdtempSync, openSync, closeSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Dataset, DatasetSpecSchema } from "../lib/generators/dataset.js";
import { LabNamespace } from "../lib/systems/namespace.js";
import type { CellContext, Unit } from "../lib/systems/contract.js";
import { rowHeader } from "../lib/systems/clickhouse/clickhouse-rowbinary.js";
import { insertRowBinarySql } from "../lib/systems/clickhouse/clickhouse-sql.js";
import { loadServicesEnv } from "../test/helpers/services-env.js";
import { median, mustBeOk, registrySystem, replay, reportRatio, streamingPeakRssMiB } from "./bench-lib.js";

const [units = 400, unitSize = 128 * 1024, rounds = 3] = process.argv.slice(2).map(Number);
const env = loadServicesEnv();
const lab = new LabNamespace();
const ds = new Dataset(DatasetSpecSchema.parse({ payload: "random_binary", units, size: { min: unitSize, max: unitSize }, fraction: 0, containers: 1 }));
const batches: Unit[][] = [...ds.batches(4 * 1024 * 1024)];
const bytes = ds.totals.logical_bytes;
const dir = mkdtempSync(join(tmpdir(), "dedup-lab-bench-clickhouse-"));
const cell: CellContext = { lab, cellKey: "benchch", variant: "mergetree_lz4", containers: 1, workDir: dir, log: () => {} };
const { system } = await registrySystem("clickhouse", {
  host: env.DEDUP_CLICKHOUSE_HOST, port: env.DEDUP_CLICKHOUSE_PORT, user: env.DEDUP_CLICKHOUSE_USER, passwordEnv: "DEDUP_CLICKHOUSE_PASSWORD",
}, lab);
const table = lab.tableName("units", cell.cellKey, "c0");
const reader = createClient({
  url: `http://${env.DEDUP_CLICKHOUSE_HOST}:${env.DEDUP_CLICKHOUSE_PORT}`,
  username: env.DEDUP_CLICKHOUSE_USER,
  password: env.DEDUP_CLICKHOUSE_PASSWORD,
  log: { level: ClickHouseLogLevel.OFF },
});

const rowBinaryFile = join(dir, "units.rowbinary");
{
  const out = createWriteStream(rowBinaryFile);
  const put = async (b: Buffer) => {
    if (!out.write(b)) await once(out, "drain");
  };
  for (const batch of batches) for (const u of batch) {
    await put(rowHeader(u));
    await put(u.payload);
  }
  out.end();
  await once(out, "finish");
}
// credentials for clickhouse-client in a private config file, not on its command line
const clientConfig = join(dir, "client.xml");
writeFileSync(clientConfig, `<config><user>${env.DEDUP_CLICKHOUSE_USER}</user><password>${env.DEDUP_CLICKHOUSE_PASSWORD}</password></config>`, { mode: 0o600 });

const replayAll = () => replay(batches);

async function rowCount(): Promise<number> {
  const [r] = await (await reader.query({ query: `SELECT count() AS n FROM ${lab.sqlName}.${table}`, format: "JSONEachRow" })).json<{ n: string }>();
  return Number(r!.n);
}

async function dedupLab(): Promise<number> {
  await system.prepare(cell);
  const t0 = process.hrtime.bigint();
  const status = await system.bulkInsert(replayAll());
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  mustBeOk(status, "bulkInsert");
  if ((await rowCount()) !== units) throw new Error("dedup-lab insert lost rows");
  return secs;
}

/** Returns [clickhouse-client's own query time, whole process] in seconds. */
async function clientInsert(): Promise<[number, number]> {
  await system.prepare(cell);
  const stdin = openSync(rowBinaryFile, "r");
  const t0 = process.hrtime.bigint();
  const child = spawn(
    "clickhouse-client",
    ["--config-file", clientConfig, "--host", env.DEDUP_CLICKHOUSE_HOST!, "--port", env.DEDUP_CLICKHOUSE_TCP_PORT!, "--time", "--query", insertRowBinarySql(lab.sqlName, table)],
    { stdio: [stdin, "pipe", "pipe"] },
  );
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  child.stdout!.resume();
  const [code] = await once(child, "exit");
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  closeSync(stdin);
  const timing = /([\d.]+)\s*$/.exec(err);
  if (code !== 0 || !timing) throw new Error(`clickhouse-client INSERT failed (exit ${code}): ${err.trim()}`);
  if ((await rowCount()) !== units) throw new Error("clickhouse-client insert lost rows");
  return [Number(timing[1]), wall];
}

const mbps = (secs: number) => bytes / 1e6 / secs;

await system.connect();
try {
  await dedupLab(); // warm-up
  await clientInsert();
  const ours: number[] = [];
  const native: number[] = [];
  const nativeWall: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const [t, wall] = await clientInsert();
    native.push(mbps(t));
    nativeWall.push(mbps(wall));
    ours.push(mbps(await dedupLab()));
  }
  const rss = await streamingPeakRssMiB(system, cell, ds);
  console.log(`clickhouse bulk: ${units} units × ${unitSize} B = ${(bytes / 1e6).toFixed(1)} MB (RowBinary file ${(statSync(rowBinaryFile).size / 1e6).toFixed(1)} MB), ${rounds} rounds, MergeTree`);
  console.log(`  dedup-lab RowBinary over HTTP      ${ours.map((x) => x.toFixed(0)).join(" / ")} MB/s  median ${median(ours).toFixed(1)}`);
  console.log(`  clickhouse-client INSERT (--time)  ${native.map((x) => x.toFixed(0)).join(" / ")} MB/s  median ${median(native).toFixed(1)}`);
  console.log(`  clickhouse-client (whole process)  ${nativeWall.map((x) => x.toFixed(0)).join(" / ")} MB/s  median ${median(nativeWall).toFixed(1)}`);
  console.log(`  ratio dedup-lab / clickhouse-client = ${(median(ours) / median(native)).toFixed(2)} (goal ≥ 0.9); vs whole client process ${(median(ours) / median(nativeWall)).toFixed(2)}`);
  reportRatio("clickhouse-bulk", "RowBinary over HTTP vs clickhouse-client INSERT (--time), MB/s", median(ours) / median(native), { atLeast: 0.9 });
  console.log(`  streaming from the generator: peak RSS growth ${rss.toFixed(1)} MiB for ${(bytes / 2 ** 20).toFixed(0)} MiB loaded`);
} finally {
  await system.cleanup();
  await system.close();
  await reader.close();
  rmSync(dir, { recursive: true, force: true });
}
