// `dedup-lab figures RUN_DIR… [--out DIR]`: the thesis figures (a)–(g) as SVG, PDF and PNG,
// drawn by the same library functions as notebooks/20-thesis-figures.ipynb.
import type { Command } from "commander";
import { loadFrames } from "../../analysis/frames.js";
import { PRINT_DEFAULTS, printSize } from "../../analysis/figure-style.js";
import { FIGURE_FORMATS, writeFigures, type FigureFormat } from "../../analysis/render.js";
import { thesisFigures } from "../../analysis/thesis.js";
import { UsageError } from "../../errors.js";

interface FigureFlags {
  out: string;
  formats: string;
  edr: string;
  width: string;
  height?: string;
  textwidth: string;
  columnwidth: string;
  maxHeight: string;
}

export function registerFigures(program: Command): void {
  program
    .command("figures")
    .description("draw the thesis figures (EDR, sizes per layer, latency, throughput, size over time, reduction per layer boundary, measured vs potential) from run bundles")
    .argument("<run_dir...>", "run bundle directories (results/<run_id>)")
    .option("--out <dir>", "output directory", "figures")
    .option("--formats <list>", "any of svg,pdf,png", FIGURE_FORMATS.join(","))
    .option("--edr <metric>", "edr_cluster or edr_replica for figure (a)", "edr_cluster")
    .option("--width <size>", "printed width: textwidth, columnwidth or a length (15cm, 150mm, 426pt, 5.9in); fonts are 8–10 pt at that width", "textwidth")
    .option("--height <length>", "printed height of every figure (default: derived per figure, at most --max-height)")
    .option("--textwidth <length>", "what textwidth means", PRINT_DEFAULTS.textwidth)
    .option("--columnwidth <length>", "what columnwidth means", PRINT_DEFAULTS.columnwidth)
    .option("--max-height <length>", "tallest derived height (a figure with its caption must fit a page)", PRINT_DEFAULTS.maxHeight)
    .action(async (dirs: string[], o: FigureFlags) => {
      const formats = o.formats.split(",").map((s) => s.trim()).filter(Boolean) as FigureFormat[];
      for (const f of formats) if (!FIGURE_FORMATS.includes(f)) throw new UsageError(`unknown figure format "${f}"`, `use ${FIGURE_FORMATS.join(", ")}`);
      if (o.edr !== "edr_cluster" && o.edr !== "edr_replica") throw new UsageError(`unknown EDR metric "${o.edr}"`, "use edr_cluster or edr_replica");
      const size = printSize({ width: o.width, height: o.height, textwidth: o.textwidth, columnwidth: o.columnwidth, maxHeight: o.maxHeight });
      const frames = await loadFrames(dirs);
      const { figures, notes } = thesisFigures(frames, { edrMetric: o.edr, size });
      for (const n of notes) process.stderr.write(`note: ${n}\n`);
      if (!figures.length) throw new UsageError("these bundles hold no measured stage to draw", "pass bundles of finished runs");
      const paths = await writeFigures(figures, o.out, { formats });
      process.stdout.write(`${figures.length} figures, ${paths.length} files in ${o.out}/ (${size.widthCm.toFixed(1)} cm wide)\n`);
      for (const f of figures) process.stdout.write(`  ${f.name}: ${f.title} (${((f.height * 2.54) / 96).toFixed(1)} cm tall)\n`);
    });
}
