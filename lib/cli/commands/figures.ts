// `dedup-lab figures RUN_DIR… [--out DIR]`: the thesis figures (a)–(g) as SVG, PDF and PNG,
// drawn by the same library functions as notebooks/20-thesis-figures.ipynb.
import type { Command } from "commander";
import { loadFrames } from "../../analysis/frames.js";
import { FIGURE_FORMATS, writeFigures, type FigureFormat } from "../../analysis/render.js";
import { thesisFigures } from "../../analysis/thesis.js";
import { UsageError } from "../../errors.js";

interface FigureFlags {
  out: string;
  formats: string;
  edr: string;
}

export function registerFigures(program: Command): void {
  program
    .command("figures")
    .description("draw the thesis figures (EDR, sizes per layer, latency, throughput, size over time, reduction per layer boundary, measured vs potential) from run bundles")
    .argument("<run_dir...>", "run bundle directories (results/<run_id>)")
    .option("--out <dir>", "output directory", "figures")
    .option("--formats <list>", "any of svg,pdf,png", FIGURE_FORMATS.join(","))
    .option("--edr <metric>", "edr_cluster or edr_replica for figure (a)", "edr_cluster")
    .action(async (dirs: string[], o: FigureFlags) => {
      const formats = o.formats.split(",").map((s) => s.trim()).filter(Boolean) as FigureFormat[];
      for (const f of formats) if (!FIGURE_FORMATS.includes(f)) throw new UsageError(`unknown figure format "${f}"`, `use ${FIGURE_FORMATS.join(", ")}`);
      if (o.edr !== "edr_cluster" && o.edr !== "edr_replica") throw new UsageError(`unknown EDR metric "${o.edr}"`, "use edr_cluster or edr_replica");
      const frames = await loadFrames(dirs);
      const { figures, notes } = thesisFigures(frames, { edrMetric: o.edr });
      for (const n of notes) process.stderr.write(`note: ${n}\n`);
      if (!figures.length) throw new UsageError("these bundles hold no measured stage to draw", "pass bundles of finished runs");
      const paths = await writeFigures(figures, o.out, { formats });
      process.stdout.write(`${figures.length} figures, ${paths.length} files in ${o.out}/\n`);
      for (const f of figures) process.stdout.write(`  ${f.name}: ${f.title}\n`);
    });
}
