// Planning bench (issue 17, item 5): `plan` / `run --dry-run` must be flat in the number of units.
// For 10^4, 10^6 and 10^8 units it plans the default embedded matrix (45 cells) and a block /
// size-range slice, each in a fresh process, and prints the peak RSS (getrusage maxRSS, the whole
// process: Node, the loaded connectors and the plan), the RSS before planning and the time.
// Headline: peak RSS at 10^8 units / at 10^4 (goal ≤ 1.1, i.e. flat) and the 10^8 peak (≤ 256 MiB).
// Run: npx tsx bench/plan.ts
import { spawnSync } from "node:child_process";
import { performance } from "node:perf_hooks";
import { loadConfig, type ConfigOverrides } from "../lib/runner/config.js";
import { planRun } from "../lib/runner/plan.js";
import { reportRatio } from "./bench-lib.js";

const SIZES = [1e4, 1e6, 1e8];
const SLICES: Record<string, ConfigOverrides> = {
  "default embedded matrix (45 cells, 16 KiB)": {},
  "block + file, 4KiB..1MiB, U0/U99 (16 cells)": { systems: ["sqlite,directory"], payloads: ["random_binary,text_document"], grades: ["U0,U99"], granularities: ["file,block"], unitSize: "4KiB..1MiB" },
};

interface Probe {
  rssBeforeMiB: number;
  peakRssMiB: number;
  seconds: number;
  cells: number;
  bytes: number;
}

const childAt = process.argv.indexOf("--child");
if (childAt > 0) {
  // One measurement: load (connectors included), then plan; maxRSS covers the whole process.
  const units = Number(process.argv[childAt + 1]);
  const slice = SLICES[process.argv[childAt + 2]!]!;
  const cfg = await loadConfig(undefined, { ...slice, units });
  const rssBeforeMiB = process.memoryUsage().rss / 2 ** 20;
  const t0 = performance.now();
  const plan = planRun(cfg);
  const seconds = (performance.now() - t0) / 1000;
  const probe: Probe = { rssBeforeMiB, peakRssMiB: process.resourceUsage().maxRSS / 1024, seconds, cells: plan.cells.length, bytes: plan.bytes };
  process.stdout.write(JSON.stringify(probe) + "\n");
} else {
  const peaks: Record<number, number> = {};
  for (const name of Object.keys(SLICES)) {
    console.log(name);
    for (const units of SIZES) {
      const r = spawnSync(process.execPath, [...process.execArgv, import.meta.filename, "--child", String(units), name], { encoding: "utf8", timeout: 600_000 });
      if (r.status !== 0) throw new Error(`plan of ${units} units failed (exit ${r.status}): ${r.stderr.trim().split("\n").pop()}`);
      const p = JSON.parse(r.stdout) as Probe;
      peaks[units] = Math.max(peaks[units] ?? 0, p.peakRssMiB);
      console.log(
        `  ${units.toExponential(0).padStart(5)} units: peak RSS ${p.peakRssMiB.toFixed(0).padStart(4)} MiB (before planning ${p.rssBeforeMiB.toFixed(0)} MiB), ` +
          `plan ${p.seconds.toFixed(3)} s, ${p.cells} cells, ${(p.bytes / 2 ** 40).toFixed(2)} TiB to write`,
      );
    }
  }
  reportRatio("plan", "peak RSS planning 10^8 vs 10^4 units", peaks[1e8]! / peaks[1e4]!, { atMost: 1.1 });
  reportRatio("plan", "peak RSS planning 10^8 units / 256 MiB", peaks[1e8]! / 256, { atMost: 1 });
  console.log(`peak RSS 10^8 / 10^4 units: ${(peaks[1e8]! / peaks[1e4]!).toFixed(3)}; 10^8 units: ${peaks[1e8]!.toFixed(0)} MiB (bound 256 MiB)`);
}
