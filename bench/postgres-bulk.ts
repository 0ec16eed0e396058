// Bulk-load throughput of the postgres connector (binary COPY via pg-copy-streams) vs psql's
// `\copy … FROM file WITH (FORMAT binary)` on the same units, same server, same run, both as the
// lab user into the same freshly created table. Units are generated before any clock starts and
// the COPY file is written outside the timer. psql is timed twice: the whole process (start-up
// and login included) and psql's own \timing of the \copy (the fair one: ours excludes connect).
//   npx tsx bench/postgres-bulk.ts [units=200] [unitSize=524288] [rounds=3]
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Dataset, DatasetSpecSchema } from "../lib/generators/dataset.js";
import { LabNamespace } from "../lib/systems/namespace.js";
import type { CellContext, Unit } from "../lib/systems/contract.js";
import { COPY_BINARY_HEADER, COPY_BINARY_TRAILER, copyRowPrefix } from "../lib/systems/postgres/postgres-sql.js";
import { loadServicesEnv } from "../test/helpers/services-env.js";
import { median, registrySystem, reportRatio, streamingPeakRssMiB, timedBulkSeconds } from "./bench-lib.js";

const [units = 200, unitSize = 512 * 1024, rounds = 3] = process.argv.slice(2).map(Number);
const env = loadServicesEnv();
const lab = new LabNamespace();
const ds = new Dataset(DatasetSpecSchema.parse({ payload: "random_binary", units, size: { min: unitSize, max: unitSize }, fraction: 0, containers: 1 }));
const batches: Unit[][] = [...ds.batches(4 * 1024 * 1024)];
const bytes = ds.totals.logical_bytes;
const dir = mkdtempSync(join(tmpdir(), "dedup-lab-bench-pg-"));
const cell: CellContext = { lab, cellKey: "benchpg", variant: "default", containers: 1, workDir: dir, log: () => {} };
const { system } = await registrySystem("postgres", {
  host: env.DEDUP_PG_HOST, port: env.DEDUP_PG_PORT, database: env.DEDUP_PG_DATABASE, user: env.DEDUP_PG_USER, passwordEnv: "DEDUP_PG_PASSWORD",
}, lab);

// The same rows in PostgreSQL's binary COPY format, for psql.
const copyFile = join(dir, "units.pgcopy");
{
  const out = createWriteStream(copyFile);
  const put = async (b: Buffer) => {
    if (!out.write(b)) await once(out, "drain");
  };
  await put(COPY_BINARY_HEADER);
  for (const batch of batches) for (const u of batch) {
    await put(copyRowPrefix(u));
    await put(u.payload);
  }
  out.end(COPY_BINARY_TRAILER);
  await once(out, "finish");
}

const dedupLab = () => timedBulkSeconds(system, cell, batches);

/** Returns [psql's own \timing of the \copy, whole process] in seconds. */
async function psqlCopy(): Promise<[number, number]> {
  await system.prepare(cell);
  const sql = `\\copy "${lab.sqlName}"."units_c0" (id, size, sha256, payload) FROM '${copyFile}' WITH (FORMAT binary)`;
  const t0 = process.hrtime.bigint();
  const child = spawn("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", env.DEDUP_PG_HOST!, "-p", env.DEDUP_PG_PORT!, "-U", env.DEDUP_PG_USER!, "-d", env.DEDUP_PG_DATABASE!, "-c", "\\timing on", "-c", sql], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, PGPASSWORD: env.DEDUP_PG_PASSWORD },
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  const [code] = await once(child, "exit");
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const timing = /Time: ([\d.]+) ms/.exec(out);
  if (code !== 0 || !timing) throw new Error(`psql \\copy failed (exit ${code}): ${out.trim()}`);
  return [Number(timing[1]) / 1000, wall];
}


const mbps = (secs: number) => bytes / 1e6 / secs;

await system.connect();
try {
  await dedupLab(); // warm-up: JIT, server relation extension, caches
  await psqlCopy();
  const ours: number[] = [];
  const native: number[] = [];
  const nativeWall: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const [t, wall] = await psqlCopy();
    native.push(mbps(t));
    nativeWall.push(mbps(wall));
    ours.push(mbps(await dedupLab()));
  }
  const rss = await streamingPeakRssMiB(system, cell, ds);
  console.log(`postgres bulk: ${units} units × ${unitSize} B = ${(bytes / 1e6).toFixed(1)} MB (binary COPY file ${(statSync(copyFile).size / 1e6).toFixed(1)} MB), ${rounds} rounds, fsync=off`);
  console.log(`  dedup-lab binary COPY           ${ours.map((x) => x.toFixed(0)).join(" / ")} MB/s  median ${median(ours).toFixed(1)}`);
  console.log(`  psql \\copy (\\timing)            ${native.map((x) => x.toFixed(0)).join(" / ")} MB/s  median ${median(native).toFixed(1)}`);
  console.log(`  psql \\copy (whole process)      ${nativeWall.map((x) => x.toFixed(0)).join(" / ")} MB/s  median ${median(nativeWall).toFixed(1)}`);
  console.log(`  ratio dedup-lab / psql \\copy = ${(median(ours) / median(native)).toFixed(2)} (goal ≥ 0.9); vs whole psql process ${(median(ours) / median(nativeWall)).toFixed(2)}`);
  reportRatio("postgres-bulk", "binary COPY bulk vs psql \\copy (\\timing), MB/s", median(ours) / median(native), { atLeast: 0.9 });
  console.log(`  streaming from the generator: peak RSS growth ${rss.toFixed(1)} MiB for ${(bytes / 2 ** 20).toFixed(0)} MiB loaded`);
} finally {
  await system.cleanup();
  await system.close();
  rmSync(dir, { recursive: true, force: true });
}
