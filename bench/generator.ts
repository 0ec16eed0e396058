// Generator benchmarks (issue 2). Prints ratios against baselines measured in the same run:
//   1. in memory, random_binary, one core vs crypto.randomFillSync (same unit size);
//   2. to disk, 500 × 512 KiB per grade through `datasets generate` (generate + SHA-256 + write)
//      vs `dd` writing the same number of bytes to the same file system.
// Run: npx tsx bench/generator.ts [--dir DIR]
import { randomFillSync } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Dataset, DatasetSpecSchema } from "../lib/generators/dataset.js";
import { writeDataset } from "../lib/generators/manifest.js";
import { reportRatio } from "./bench-lib.js";

const dirArg = process.argv.indexOf("--dir");
const root = mkdtempSync(join(dirArg > 0 ? process.argv[dirArg + 1]! : tmpdir(), "dedup-lab-bench-"));
const mb = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

function best(runs: number, fn: () => number): number {
  let top = 0;
  for (let i = 0; i < runs; i++) top = Math.max(top, fn());
  return top;
}

console.log("1. in-memory generation, random_binary, one core (best of 5)");
for (const unit of [4096, 512 * 1024]) {
  const total = 512 * 1024 * 1024;
  const n = total / unit;
  // Two baselines: randomFillSync into a fresh unit buffer (the same work: a generator hands out a new
  // buffer per unit) and into one reused buffer (the raw speed of the OS-seeded CSPRNG).
  const rate = (fill: () => void) =>
    best(5, () => {
      const t = performance.now();
      for (let i = 0; i < n; i++) fill();
      return mb(total, performance.now() - t);
    });
  const fresh = rate(() => randomFillSync(Buffer.allocUnsafe(unit)));
  const reused = Buffer.allocUnsafe(unit);
  const baseline = rate(() => randomFillSync(reused));
  const ds = new Dataset(DatasetSpecSchema.parse({ payload: "random_binary", units: n, size: { min: unit, max: unit }, fraction: 0 }));
  const ours = best(5, () => {
    const t = performance.now();
    for (let i = 0; i < n; i++) ds.payload(i);
    return mb(total, performance.now() - t);
  });
  console.log(
    `   unit ${unit / 1024} KiB: dedup-lab ${ours.toFixed(0)} MB/s; randomFillSync fresh buffer ${fresh.toFixed(0)} MB/s → ratio ${(ours / fresh).toFixed(2)}; ` +
      `reused buffer ${baseline.toFixed(0)} MB/s → ratio ${(ours / baseline).toFixed(2)} (goal ≥ 0.5)`,
  );
  reportRatio("generator", `random_binary ${unit / 1024} KiB in memory vs randomFillSync, fresh buffer`, ours / fresh);
  reportRatio("generator", `random_binary ${unit / 1024} KiB in memory vs randomFillSync, reused buffer`, ours / baseline, { atLeast: 0.5 });
}

console.log("2. to disk: 500 × 512 KiB per grade (generate + SHA-256 + write + manifest)");
const bytes = 500 * 512 * 1024;
const ddFile = join(root, "dd.bin");
const dd = best(3, () => {
  rmSync(ddFile, { force: true });
  const t = performance.now();
  execFileSync("dd", ["if=/dev/zero", `of=${ddFile}`, "bs=512K", "count=500"], { stdio: "ignore" });
  return mb(bytes, performance.now() - t);
});
rmSync(ddFile, { force: true });
for (const fraction of [0, 0.5, 0.9]) {
  let top = 0;
  for (let run = 0; run < 3; run++) {
    const dir = join(root, `U${fraction * 100}-${run}`);
    const t = performance.now();
    await writeDataset(DatasetSpecSchema.parse({ payload: "random_binary", units: 500, size: { min: 524288, max: 524288 }, fraction }), dir);
    top = Math.max(top, mb(bytes, performance.now() - t));
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`   U${fraction * 100}: ${top.toFixed(0)} MB/s; dd on the same file system ${dd.toFixed(0)} MB/s; ratio to dd ${(top / dd).toFixed(2)} (goal 870 MB/s where the disk allows)`);
  reportRatio("generator", `datasets generate U${fraction * 100} to disk (${top.toFixed(0)} MB/s) vs dd`, top / dd, { text: "— (870 MB/s absolute where the disk allows)" });
}
rmSync(root, { recursive: true, force: true });
