// Bulk-load throughput of the mariadb connector (prepared multi-row INSERTs, binary protocol)
// vs the `mariadb` client's LOAD DATA LOCAL INFILE of the same units, same server, same run,
// both as the lab user into the same freshly created table. Units are generated before any
// clock starts and the TSV file (binary payloads backslash-escaped) is written outside the
// timer. The client is timed twice: its own statement time (`-vvv` prints "(x sec)"; the fair
// one, ours excludes connect too) and the whole process (start-up and login included).
//   npx tsx bench/mariadb-bulk.ts [units=400] [unitSize=131072] [rounds=3]
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Dataset, DatasetSpecSchema } from "../lib/generators/dataset.js";
import { LabNamespace } from "../lib/systems/namespace.js";
import type { CellContext, Unit } from "../lib/systems/contract.js";
import { loadServicesEnv } from "../test/helpers/services-env.js";
import { median, registrySystem, reportRatio, streamingPeakRssMiB, timedBulkSeconds } from "./bench-lib.js";

const [units = 400, unitSize = 128 * 1024, rounds = 3] = process.argv.slice(2).map(Number);
const env = loadServicesEnv();
const lab = new LabNamespace();
const ds = new Dataset(DatasetSpecSchema.parse({ payload: "random_binary", units, size: { min: unitSize, max: unitSize }, fraction: 0, containers: 1 }));
const batches: Unit[][] = [...ds.batches(4 * 1024 * 1024)];
const bytes = ds.totals.logical_bytes;
const dir = mkdtempSync(join(tmpdir(), "dedup-lab-bench-mariadb-"));
const cell: CellContext = { lab, cellKey: "benchmy", variant: "default", containers: 1, workDir: dir, log: () => {} };
const { system } = await registrySystem("mariadb", {
  host: env.DEDUP_MARIADB_HOST, port: env.DEDUP_MARIADB_PORT, user: env.DEDUP_MARIADB_USER, passwordEnv: "DEDUP_MARIADB_PASSWORD",
}, lab);
const table = `\`${lab.sqlName}\`.\`${lab.tableName("units", cell.cellKey, "c0")}\``;

/** LOAD DATA's default escaping: backslash, tab, newline and NUL become two-byte sequences. */
function escapeField(buf: Buffer): Buffer {
  const out = Buffer.allocUnsafe(buf.length * 2);
  let o = 0;
  for (const x of buf) {
    if (x === 0x5c || x === 0x09 || x === 0x0a || x === 0x00) {
      out[o++] = 0x5c;
      out[o++] = x === 0x09 ? 0x74 : x === 0x0a ? 0x6e : x === 0x00 ? 0x30 : 0x5c;
    } else out[o++] = x;
  }
  return out.subarray(0, o);
}

const tsvFile = join(dir, "units.tsv");
{
  const out = createWriteStream(tsvFile);
  const put = async (b: Buffer) => {
    if (!out.write(b)) await once(out, "drain");
  };
  for (const batch of batches) for (const u of batch) {
    await put(Buffer.from(`${u.id}\t${u.size}\t`));
    await put(escapeField(u.sha256));
    await put(Buffer.from("\t"));
    await put(escapeField(u.payload));
    await put(Buffer.from("\n"));
  }
  out.end();
  await once(out, "finish");
}

const dedupLab = () => timedBulkSeconds(system, cell, batches);

/** Returns [the client's own statement time, whole process] in seconds. */
async function clientLoadData(): Promise<[number, number]> {
  await system.prepare(cell);
  const sql = `LOAD DATA LOCAL INFILE '${tsvFile}' INTO TABLE ${table} CHARACTER SET binary (id, size, sha256, payload)`;
  const t0 = process.hrtime.bigint();
  const child = spawn("mariadb", ["--no-defaults", "--local-infile=1", "-vvv", "-h", env.DEDUP_MARIADB_HOST!, "-P", env.DEDUP_MARIADB_PORT!, "-u", env.DEDUP_MARIADB_USER!, "-e", sql], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, MYSQL_PWD: env.DEDUP_MARIADB_PASSWORD },
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  const [code] = await once(child, "exit");
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const timing = /Query OK, (\d+) rows affected[^(]*\(([\d.]+) sec\)/.exec(out);
  if (code !== 0 || !timing) throw new Error(`mariadb LOAD DATA failed (exit ${code}): ${out.trim()}`);
  if (Number(timing[1]) !== units) throw new Error(`LOAD DATA loaded ${timing[1]} of ${units} rows`);
  return [Number(timing[2]), wall];
}


const mbps = (secs: number) => bytes / 1e6 / secs;

await system.connect();
try {
  await dedupLab(); // warm-up: JIT, buffer pool, tablespace extension
  await clientLoadData();
  const ours: number[] = [];
  const native: number[] = [];
  const nativeWall: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const [t, wall] = await clientLoadData();
    native.push(mbps(t));
    nativeWall.push(mbps(wall));
    ours.push(mbps(await dedupLab()));
  }
  const rss = await streamingPeakRssMiB(system, cell, ds);
  console.log(`mariadb bulk: ${units} units × ${unitSize} B = ${(bytes / 1e6).toFixed(1)} MB (TSV file ${(statSync(tsvFile).size / 1e6).toFixed(1)} MB), ${rounds} rounds`);
  console.log(`  dedup-lab multi-row INSERT       ${ours.map((x) => x.toFixed(0)).join(" / ")} MB/s  median ${median(ours).toFixed(1)}`);
  console.log(`  mariadb LOAD DATA LOCAL (stmt)   ${native.map((x) => x.toFixed(0)).join(" / ")} MB/s  median ${median(native).toFixed(1)}`);
  console.log(`  mariadb LOAD DATA LOCAL (process) ${nativeWall.map((x) => x.toFixed(0)).join(" / ")} MB/s  median ${median(nativeWall).toFixed(1)}`);
  console.log(`  ratio dedup-lab / LOAD DATA = ${(median(ours) / median(native)).toFixed(2)} (goal ≥ 0.9); vs whole client process ${(median(ours) / median(nativeWall)).toFixed(2)}`);
  reportRatio("mariadb-bulk", "multi-row INSERT bulk vs mariadb LOAD DATA LOCAL INFILE (statement time), MB/s", median(ours) / median(native), { atLeast: 0.9 });
  console.log(`  streaming from the generator: peak RSS growth ${rss.toFixed(1)} MiB for ${(bytes / 2 ** 20).toFixed(0)} MiB loaded`);
} finally {
  await system.cleanup();
  await system.close();
  rmSync(dir, { recursive: true, force: true });
}
