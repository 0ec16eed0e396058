// `dedup-lab nb run NOTEBOOK… [-p key=value …] [--out DIR] [--timeout S]`: headless,
// parameterized execution through the real tslab kernel and Debian's Jupyter client.
import type { Command } from "commander";
import { describeFailure, runNotebooks } from "../../notebook/execute.js";
import { parseParamArgs } from "../../notebook/params.js";
import { UsageError } from "../../errors.js";

interface NbRunFlags {
  param: string[];
  out: string;
  timeout: string;
}

export function registerNb(program: Command): void {
  const nb = program.command("nb").description("notebooks: headless execution with parameters");
  nb.command("run")
    .description("execute notebooks top to bottom with the tslab kernel; write the executed notebooks to --out")
    .argument("<notebook...>", "notebooks, e.g. notebooks/00-quickstart.ipynb")
    .option("-p, --param <name=value>", "parameter for the cell tagged `parameters` (repeatable; numbers, true/false, [JSON], a,b,c or text)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--out <dir>", "directory for the executed notebooks; a notebook that declares outDir writes its artefacts to DIR/<name>-output (replaced on each run) unless -p outDir=… is given", "results/notebooks")
    .option("--timeout <seconds>", "per-cell timeout", "600")
    .action(async (paths: string[], o: NbRunFlags) => {
      if (!/^\d+$/.test(o.timeout) || Number(o.timeout) < 1) throw new UsageError(`--timeout must be a whole number of seconds (got "${o.timeout}")`, "pass e.g. --timeout 300");
      const runs = await runNotebooks(paths, { params: parseParamArgs(o.param), out: o.out, timeoutS: Number(o.timeout) });
      let failed = 0;
      let badInput = 0;
      for (const r of runs) {
        if (r.ok) {
          process.stdout.write(`${r.notebook}: ok (${r.cells.length} code cells, ${r.seconds.toFixed(1)} s) → ${r.output}\n`);
        } else {
          failed++;
          process.stdout.write(`${r.notebook}: FAILED — ${describeFailure(r)}\n    executed notebook (outputs so far): ${r.output}\n`);
          // A cell that rejected its input (e.g. a bundle of another schema) is bad input, not a failed check.
          if (r.usageError) {
            badInput++;
            process.stderr.write(`dedup-lab: ${r.notebook}: ${r.usageError}\n`);
          }
        }
      }
      process.exitCode = badInput ? 2 : failed ? 1 : 0;
    });
}
