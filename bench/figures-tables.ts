// Thesis output timings (issue 3), wall clock of the real CLI, browser start included:
//   1. `dedup-lab figures` + `dedup-lab tables` for a full default run (budget: 60 s);
//   2. with --notebooks: the four notebooks headless through the dedup-lab (tslab) kernel (budget: 120 s).
// The full default run (45 cells: 3 embedded systems × 5 payloads × 3 grades, 100 × 16 KiB)
// is measured first unless --bundle DIR names one.
// Run: npm run build && npx tsx bench/figures-tables.ts [--bundle DIR] [--notebooks]
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadConfig } from "../lib/runner/config.js";
import { runMatrix } from "../lib/runner/run.js";
import { reportRatio } from "./bench-lib.js";

const ROOT = resolve(import.meta.dirname, "..");
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const work = mkdtempSync(join(tmpdir(), "dedup-lab-bench-figures-"));

function timed(label: string, args: string[]): number {
  const t = performance.now();
  execFileSync(process.execPath, [join(ROOT, "bin", "dedup-lab.js"), ...args], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  const s = (performance.now() - t) / 1000;
  console.log(`  ${label.padEnd(34)} ${s.toFixed(1).padStart(6)} s`);
  return s;
}

console.log(`machine: ${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
let bundle = arg("--bundle");
if (!bundle) {
  const t = performance.now();
  const run = await runMatrix(await loadConfig(undefined, {}), { dir: join(work, "default-run") });
  bundle = run.dir;
  console.log(`full default run: ${run.done} cells in ${((performance.now() - t) / 1000).toFixed(1)} s → ${bundle}`);
}

console.log("1. figures + tables (CLI, cold start, one Chromium for all figures)");
const fig = timed("dedup-lab figures", ["figures", bundle, "--out", join(work, "figures")]);
const tab = timed("dedup-lab tables", ["tables", bundle, "--out", join(work, "tables")]);
const files = readdirSync(join(work, "figures")).length;
console.log(`  ${"total".padEnd(34)} ${(fig + tab).toFixed(1).padStart(6)} s  (${files} figure files; budget 60 s: ${fig + tab <= 60 ? "ok" : "OVER"})`);
reportRatio("figures-tables", `figures + tables of a full default run: ${(fig + tab).toFixed(1)} s vs the 60 s budget`, (fig + tab) / 60, { atMost: 1 });

if (process.argv.includes("--notebooks")) {
  console.log("2. notebook suite headless (dedup-lab kernel + Debian nbclient)");
  const nb = timed("dedup-lab nb run notebooks/*", ["nb", "run", ...["00-quickstart", "10-run-slice", "20-thesis-figures", "30-thesis-tables"].map((n) => `notebooks/${n}.ipynb`), "--out", join(work, "notebooks")]);
  console.log(`  budget 120 s: ${nb <= 120 ? "ok" : "OVER"}`);
  reportRatio("figures-tables", `four notebooks headless: ${nb.toFixed(1)} s vs the 120 s budget`, nb / 120, { atMost: 1 });
}
console.log(`outputs in ${work}`);
