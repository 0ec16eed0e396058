// `dedup-lab report RUN_DIR…`: the summary table from one or many bundles.
import type { Command } from "commander";
import { formatSummary, summaryLines } from "../../analysis/summary.js";
import { loadBundles } from "../../results/bundle.js";

export function registerReport(program: Command): void {
  program
    .command("report")
    .description("print the summary table (EDR, ideal ratio, MB/s, p50, p99) of one or many run bundles")
    .argument("<run_dir...>", "run bundle directories (results/<run_id>)")
    .action(async (dirs: string[]) => {
      const b = await loadBundles(dirs);
      for (const m of b.metas) process.stdout.write(`run ${m.run_id}: ${m.status}, ${m.cells_done}/${m.cells_total} cells done, ${m.cells_failed} failed\n`);
      process.stdout.write(formatSummary(summaryLines(b)) + "\n");
    });
}
