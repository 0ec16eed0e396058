// `dedup-lab tables RUN_DIR… [--out DIR]`: the thesis tables (EDR_cluster / EDR_replica,
// latency percentiles, reduction per layer boundary, measured vs potential) as LaTeX (booktabs) and Markdown — the same functions as
// notebooks/30-thesis-tables.ipynb.
import type { Command } from "commander";
import { loadFrames } from "../../analysis/frames.js";
import { thesisTables } from "../../analysis/thesis.js";
import { writeTables } from "../../analysis/thesis-tables.js";
import { UsageError } from "../../errors.js";

export function registerTables(program: Command): void {
  program
    .command("tables")
    .description("write the thesis tables (EDR, latency, reduction per layer boundary, measured vs potential; LaTeX booktabs + Markdown) from run bundles")
    .argument("<run_dir...>", "run bundle directories (results/<run_id>)")
    .option("--out <dir>", "output directory", "tables")
    .option("--interval <kind>", "sd: mean ± SD (n); ci: mean [95 % t interval] (n)", "sd")
    .action(async (dirs: string[], o: { out: string; interval: string }) => {
      if (o.interval !== "sd" && o.interval !== "ci") throw new UsageError(`unknown interval "${o.interval}"`, "use sd or ci");
      const tables = thesisTables(await loadFrames(dirs), { interval: o.interval });
      if (!tables.length) throw new UsageError("these bundles hold no EDR or latency measurements", "pass bundles of finished runs");
      const paths = await writeTables(tables, o.out);
      process.stdout.write(`${tables.length} tables, ${paths.length} files in ${o.out}/\n`);
      for (const t of tables) process.stdout.write(`  ${t.name}.tex / .md\n`);
    });
}
