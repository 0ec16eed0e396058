// `dedup-lab merge BUNDLE… --out DIR`: one bundle from the bundles of a sharded study
// (lib/results/merge.ts). The cells expected are the plan of the bundles' stored configuration.
import type { Command } from "commander";
import { existsSync, readdirSync } from "node:fs";
import { resolve } from "node:path";
import { UsageError } from "../../errors.js";
import { planMerge, readMergeSources, writeMerged } from "../../results/merge.js";
import { loadAndResolve } from "../../runner/config.js";
import { expandMatrix } from "../../runner/matrix.js";
import { checkWritableDir } from "../paths.js";

export function registerMerge(program: Command): void {
  program
    .command("merge")
    .description("merge the bundles of a sharded study (run --shard i/N) into one bundle; refuses mixed configurations or seeds, duplicate and missing cells")
    .argument("<bundle...>", "the shard bundles (results/<run_id> directories)")
    .requiredOption("--out <dir>", "write the merged bundle into this (new or empty) directory")
    .action(async (dirs: string[], o: { out: string }) => {
      checkWritableDir(o.out, "--out");
      if (existsSync(o.out) && readdirSync(o.out).length > 0) throw new UsageError(`output directory ${o.out} is not empty`, "pass a new --out directory");
      const inputs = new Set(dirs.map((d) => resolve(d)));
      if (inputs.has(resolve(o.out))) throw new UsageError(`--out ${o.out} is one of the bundles to merge`, "pass a new --out directory");
      const sources = await readMergeSources(dirs);
      // The plan of the stored configuration (written already resolved and redacted: no secret is needed to expand it).
      const cfg = await loadAndResolve(sources[0]!.config.resolved, {}, `config of ${sources[0]!.dir}`);
      const plan = await planMerge(sources, expandMatrix(cfg, "plan").map((c) => c.id));
      const result = await writeMerged(sources, plan, o.out);
      for (const s of result.shards) {
        process.stdout.write(`${s.shard ? `shard ${s.shard}` : "bundle"}: run ${s.run_id} on ${s.host ?? "unknown host"}, ${s.started} – ${s.ended}, ${s.cells} cells\n`);
      }
      process.stdout.write(`merged bundle: ${result.dir}  (run ${result.runId}, ${result.cells} cells from ${result.shards.length} bundles)\n`);
    });
}
