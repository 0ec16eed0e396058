// Potential-analysis benchmark (issue 12). Prints ratios against a baseline measured in the same run:
//   1. FastCDC 2020 cut points over 1 GiB of random_binary (1 MiB units, each cut on its own) —
//      dedup-lab (WebAssembly loop) vs PyPI pyfastcdc (Cython) on the same bytes, same parameters,
//      for each average size; the cut points are compared too (they must be identical). The
//      ratio is for units held in a `cdcBuffer` (WebAssembly memory, cut in place, as pyfastcdc
//      cuts its bytes object in place); units in ordinary Buffers (copied into WebAssembly memory
//      first, as the runner's generator units are) are timed too and printed beside it, and both
//      sides' throughput per second of process CPU time (less moved by other jobs on a shared machine);
//   2. fixed-block analysis alone (SHA-256 per 4 KiB block, larger blocks derived) and the full
//      analysis (unit, 5 fixed sizes, 4 CDC sizes, 4 codecs on the runner's 4 MiB sample);
//   3. the analysis' share of a run: an embedded run (sqlite, duckdb, directory; 2 grades) timed
//      end to end, against the potential_s rows it recorded.
// Needs the reference venv: bash scripts/setup-python-ref.sh (run here when missing) and `npm run build` (step 3).
// Run: npx tsx bench/potential.ts [--gib 1] [--rounds 5] [--no-run] [--cdc-only]
// (--rounds: alternating reference/ours rounds, best of each; on a shared VM single runs vary by ±30 %)
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Dataset, DatasetSpecSchema } from "../lib/generators/dataset.js";
import { cdcBuffer, FastCdc } from "../lib/metrics/fastcdc.js";
import { analyzePotential, DEFAULT_CDC_AVERAGES, PotentialAnalyzer, loadPotentialCodecs } from "../lib/metrics/potential.js";
import { loadBundles } from "../lib/results/bundle.js";
import { POTENTIAL_COMPRESSION_BUDGET } from "../lib/runner/potential-rows.js";
import { reportRatio } from "./bench-lib.js";

const ROOT = resolve(new URL("..", import.meta.url).pathname);
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const gib = Number(arg("--gib") ?? "1");
const rounds = Number(arg("--rounds") ?? "5");
if (!(Number.isInteger(rounds) && rounds >= 1)) throw new Error(`--rounds must be a whole number ≥ 1 (got "${arg("--rounds")}") — pass --rounds 5`);
const UNIT = 1 << 20;
const n = Math.round((gib * 2 ** 30) / UNIT);
const total = n * UNIT;
const dir = mkdtempSync(join(tmpdir(), "dedup-lab-bench-potential-"));
const GB = (bytes: number, s: number) => bytes / 1e9 / s;

try {
  const python = execFileSync("bash", [join(ROOT, "scripts/setup-python-ref.sh")], { encoding: "utf8" }).trim().split("\n").pop()!;
  console.log(`generating ${n} × 1 MiB random_binary units (${(total / 2 ** 30).toFixed(2)} GiB) …`);
  const ds = new Dataset(DatasetSpecSchema.parse({ payload: "random_binary", units: n, size: { min: UNIT, max: UNIT }, fraction: 0, seed: "bench-potential" }));
  const units: Buffer[] = [];
  // The same bytes once more inside WebAssembly memory (cut in place).
  const arena = cdcBuffer(total);
  const inPlace: Uint8Array[] = [];
  const file = join(dir, "units.bin");
  const fd = openSync(file, "w");
  for (let i = 0; i < n; i++) {
    const p = ds.payload(i);
    units.push(p);
    arena.set(p, i * UNIT);
    inPlace.push(arena.subarray(i * UNIT, (i + 1) * UNIT));
    writeSync(fd, p);
  }
  closeSync(fd);
  ds.close();

  console.log(`1. FastCDC 2020 cut points, each 1 MiB unit cut on its own (best of ${rounds}, Python and JavaScript runs alternating)`);
  const py = `
import json, sys, time, hashlib, pyfastcdc
data = open(sys.argv[1], "rb").read()
mv = memoryview(data)
unit = ${UNIT}
ch = pyfastcdc.FastCDC(int(sys.argv[2]))
ends = []
t = time.perf_counter()
c0 = time.process_time()
for off in range(0, len(data), unit):
    ends.extend([c.offset + c.length for c in ch.cut_buf(mv[off:off + unit])])
s = time.perf_counter() - t
cpu = time.process_time() - c0
h = hashlib.sha256()
for e in ends:
    h.update(e.to_bytes(4, "little"))
print(json.dumps({"Bps": len(data) / s, "cpuBps": len(data) / cpu, "cuts": h.hexdigest()}))
`;
  writeFileSync(join(dir, "ref.py"), py);
  const { createHash } = await import("node:crypto");
  for (const avg of DEFAULT_CDC_AVERAGES) {
    const c = new FastCdc(avg);
    let best = 0;
    let copiedBest = 0;
    let refBest = 0;
    // Also per second of CPU time (this process' / the Python process'): less moved by other jobs on a shared machine.
    let cpuBest = 0;
    let refCpuBest = 0;
    let digest = "";
    let refDigest = "";
    for (let k = 0; k < rounds; k++) {
      // The reference first, then ours, three times: both see the same machine load.
      const r = JSON.parse(execFileSync(python, [join(dir, "ref.py"), file, String(avg)], { encoding: "utf8" })) as { Bps: number; cpuBps: number; cuts: string };
      refBest = Math.max(refBest, r.Bps);
      refCpuBest = Math.max(refCpuBest, r.cpuBps);
      refDigest = r.cuts;
      // Cut points are collected while timed and hashed after (the same on the Python side).
      const ends = new Uint32Array(Math.ceil(total / c.params.min) + units.length);
      let m = 0;
      const t = performance.now();
      const c0 = process.cpuUsage();
      for (const u of inPlace) {
        c.chunks(u, (o, len) => {
          ends[m++] = o + len;
        });
      }
      best = Math.max(best, total / ((performance.now() - t) / 1000));
      const cpu = process.cpuUsage(c0);
      cpuBest = Math.max(cpuBest, total / ((cpu.user + cpu.system) / 1e6));
      const h = createHash("sha256").update(Buffer.from(ends.buffer, 0, m * 4));
      digest = h.digest("hex");
      // The same cut from ordinary Buffers (each unit copied into WebAssembly memory first).
      let m2 = 0;
      const t2 = performance.now();
      for (const u of units) {
        c.chunks(u, (o, len) => {
          ends[m2++] = o + len;
        });
      }
      copiedBest = Math.max(copiedBest, total / ((performance.now() - t2) / 1000));
      if (createHash("sha256").update(Buffer.from(ends.buffer, 0, m2 * 4)).digest("hex") !== digest) throw new Error(`copied and in-place cut points differ at avg ${avg}`);
    }
    const same = digest === refDigest;
    console.log(
      `   avg ${avg / 1024} KiB: dedup-lab ${GB(best, 1).toFixed(2)} GB/s, pyfastcdc ${GB(refBest, 1).toFixed(2)} GB/s → ratio ${(best / refBest).toFixed(2)} (goal ≥ 1 and ≥ 1 GB/s); cut points ${same ? "identical" : "DIFFER"}; from Buffers (copied in) ${GB(copiedBest, 1).toFixed(2)} GB/s, ratio ${(copiedBest / refBest).toFixed(2)}; per CPU second ${GB(cpuBest, 1).toFixed(2)} vs ${GB(refCpuBest, 1).toFixed(2)} GB/s, ratio ${(cpuBest / refCpuBest).toFixed(2)}`,
    );
    if (!same) throw new Error(`cut points differ from pyfastcdc at avg ${avg}`);
    reportRatio("potential", `FastCDC avg ${avg / 1024} KiB vs pyfastcdc (GB/s, same bytes)`, best / refBest, { atLeast: 1 });
    reportRatio("potential", `FastCDC avg ${avg / 1024} KiB, GB/s (goal 1 GB/s)`, GB(best, 1), { atLeast: 1 });
    reportRatio("potential", `FastCDC avg ${avg / 1024} KiB vs pyfastcdc per CPU second`, cpuBest / refCpuBest, { atLeast: 1 });
    reportRatio("potential", `FastCDC avg ${avg / 1024} KiB from Buffers (copied into WebAssembly memory) vs pyfastcdc`, copiedBest / refBest);
  }
  inPlace.length = 0;
  if (!process.argv.includes("--cdc-only")) {

  console.log("2. analysis throughput (one pass each)");
  await loadPotentialCodecs();
  let t = performance.now();
  const fixed = new PotentialAnalyzer({ cdcAverages: [], codecs: [] });
  for (const u of units) fixed.add(u);
  fixed.finish();
  const fixedS = (performance.now() - t) / 1000;
  console.log(`   fixed-block only (4, 8, 16, 64, 128 KiB; unit level): ${GB(total, fixedS).toFixed(2)} GB/s (${fixedS.toFixed(1)} s)`);
  t = performance.now();
  const full = await analyzePotential(units, { compressionSample: Math.min(1, POTENTIAL_COMPRESSION_BUDGET / total) });
  const fullS = (performance.now() - t) / 1000;
  console.log(`   full analysis (unit, 5 fixed, 4 CDC, 4 codecs on ${full.compression.sampled_segments} of ${full.compression.segments} segments): ${GB(total, fullS).toFixed(2)} GB/s (${fullS.toFixed(1)} s)`);
  reportRatio("potential", "fixed-block analysis, GB/s", GB(total, fixedS));
  reportRatio("potential", "full potential analysis, GB/s", GB(total, fullS));
  units.length = 0;

  if (!process.argv.includes("--no-run")) {
    console.log("3. share of a run: embedded run, 3 systems × 2 grades × 200 × 512 KiB, bulk_insert");
    const out = join(dir, "run");
    t = performance.now();
    execFileSync("node", [join(ROOT, "bin/dedup-lab.js"), "run", "--systems", "sqlite,duckdb,directory", "--payloads", "random_binary", "--grades", "U0,U90", "--units", "200", "--unit-size", "512KiB", "--stages", "bulk_insert", "--out", out, "--quiet"], { stdio: "inherit" });
    const runS = (performance.now() - t) / 1000;
    const b = await loadBundles([out]);
    const rows = b.results.toArray() as { metric: string; value: number | null; grade: string }[];
    // potential_s is recorded per cell; each dataset (grade) was computed once, the other cells used the cache.
    const perDataset = new Map<string, number>();
    for (const r of rows) if (r.metric === "potential_s" && r.value !== null) perDataset.set(r.grade, r.value);
    const potS = [...perDataset.values()].reduce((a, v) => a + v, 0);
    console.log(`   run ${runS.toFixed(1)} s; potential analysis ${potS.toFixed(2)} s for ${perDataset.size} datasets → ${((potS / runS) * 100).toFixed(1)} % of the run`);
    reportRatio("potential", "potential analysis share of an embedded run", potS / runS, { atMost: 0.1 });
  }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
