// `dedup-lab datasets generate|verify|analyze`.
import type { Command } from "commander";
import cliProgress from "cli-progress";
import { UsageError } from "../../errors.js";
import { checkWritableDir } from "../paths.js";
import { wholeNumberArg } from "../options.js";
import { MAX_UNITS } from "../../runner/config.js";
import { DatasetSpecSchema } from "../../generators/dataset.js";
import { readManifest, verifyDataset, writeDataset } from "../../generators/manifest.js";
import { COPY_POLICIES, parseGrade } from "../../generators/plan.js";
import { payloadType } from "../../generators/payloads.js";
import { formatBytes, parseBytes } from "../../bytes.js";
import { parseSizeSpec } from "../../generators/sizes.js";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { analyzePotential, potentialTable, sampleFractionFor, type PotentialReport } from "../../metrics/potential.js";

/** Flags of `datasets analyze` and `data analyze`. */
export interface AnalyzeFlags {
  compressionBudget: string;
  json?: boolean;
}

export function analyzeFlags(cmd: Command): Command {
  return cmd
    .option("--compression-budget <size>", "compress at most about this much distinct data per codec (evenly spread 128 KiB segments, the rest extrapolated)", "64MiB")
    .option("--json", "print the report as JSON instead of the table");
}

/** Print a potential report (table or JSON) and write it to `path`. */
export async function emitPotential(report: PotentialReport, path: string, title: string, o: AnalyzeFlags): Promise<void> {
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
  if (o.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(`${title}\n${potentialTable(report).join("\n")}\n(${report.seconds.toFixed(1)} s; written to ${path})\n`);
}

interface GenerateFlags {
  payload: string;
  fraction: string;
  units: string;
  unitSize: string;
  granularity: string;
  blockSize: string;
  placement: string;
  containers: string;
  policy: string;
  seed: string;
  out: string;
}

export function registerDatasets(program: Command): void {
  const datasets = program.command("datasets").description("generate and verify datasets with an exact duplicate fraction");
  datasets
    .command("generate")
    .description("write a dataset (one file per unit + manifest.json) into a new directory")
    .requiredOption("--out <dir>", "new or empty directory")
    .option("--payload <type>", "random_binary | structured_json | text_document | uuid_keys | jsonb_documents", "random_binary")
    .option("--fraction <f>", "duplicate fraction in [0, 1) or U0/U50/U90/U95/U99", "0")
    .option("--units <n>", "number of units", "100")
    .option("--unit-size <size>", "unit size, e.g. 4096, 512KiB or 4KiB..1MiB", "4KiB")
    .option("--granularity <g>", "file | block", "file")
    .option("--block-size <size>", "block size for block granularity", "4KiB")
    .option("--placement <p>", "within | across", "within")
    .option("--containers <k>", "containers for across placement", "4")
    .option("--policy <p>", `which unique a duplicate copies: ${COPY_POLICIES.join(" | ")}`, "uniform")
    .option("--seed <seed>", "seed", "1")
    .action(async (o: GenerateFlags) => {
      payloadType(o.payload);
      if (o.granularity !== "file" && o.granularity !== "block") throw new UsageError(`unknown granularity "${o.granularity}"`, "use file or block");
      if (o.placement !== "within" && o.placement !== "across") throw new UsageError(`unknown placement "${o.placement}"`, "use within or across");
      if (!(COPY_POLICIES as readonly string[]).includes(o.policy)) throw new UsageError(`unknown policy "${o.policy}"`, `use ${COPY_POLICIES.join(" or ")}`);
      const spec = DatasetSpecSchema.parse({
        payload: o.payload, units: wholeNumberArg(o.units, "--units", MAX_UNITS, 100), size: parseSizeSpec(o.unitSize), fraction: parseGrade(o.fraction),
        granularity: o.granularity, blockSize: parseBytes(o.blockSize, "block size"), placement: o.placement,
        containers: wholeNumberArg(o.containers, "--containers", 1000, 4), policy: o.policy, seed: o.seed,
      });
      checkWritableDir(o.out, "--out");
      const bar = process.stderr.isTTY ? new cliProgress.SingleBar({ format: "{bar} {value}/{total} units", stream: process.stderr }, cliProgress.Presets.shades_classic) : null;
      bar?.start(spec.units, 0);
      const m = await writeDataset(spec, o.out, (done) => bar?.update(done));
      bar?.stop();
      const t = m.totals;
      process.stdout.write(
        `${o.out}: ${t.n_units} units, ${formatBytes(t.logical_bytes)} logical, ${formatBytes(t.unique_bytes)} unique; ` +
          `requested fraction ${t.requested_fraction}, realized ${t.realized_fraction}, dedup ratio ${t.dedup_ratio.toFixed(4)}\n`,
      );
    });
  datasets
    .command("verify")
    .description("re-hash every unit independently and compare with the manifest")
    .argument("<dir...>", "dataset directories")
    .action(async (dirs: string[]) => {
      let bad = 0;
      for (const dir of dirs) {
        const v = await verifyDataset(dir);
        if (v.ok) {
          process.stdout.write(`${dir}: OK — ${v.units} units, ${formatBytes(v.bytes)}, realized fraction ${v.realizedFraction}, unique ${formatBytes(v.uniqueBytes)}\n`);
        } else {
          bad++;
          process.stdout.write(`${dir}: MISMATCH\n${v.problems.map((p) => `  ${p}`).join("\n")}\n`);
        }
      }
      if (bad) process.exitCode = 1;
    });
  analyzeFlags(
    datasets
      .command("analyze")
      .description("deduplication potential (unit, fixed-block, FastCDC) and compression potential of a dataset; writes potential.json beside its manifest")
      .argument("<dir>", "dataset directory (with manifest.json)"),
  ).action(async (dir: string, o: AnalyzeFlags) => {
    const m = await readManifest(dir);
    const sample = sampleFractionFor(m.totals.unique_bytes, parseBytes(o.compressionBudget, "compression budget"));
    async function* units() {
      for (const u of m.units) yield await readFile(join(dir, u.file));
    }
    const report = await analyzePotential(units(), { compressionSample: sample });
    await emitPotential(report, join(dir, "potential.json"), `${dir}: ${m.units.length} units, ${formatBytes(m.totals.logical_bytes)} (dataset ${m.dataset_id}, ideal ratio ${m.totals.dedup_ratio.toFixed(3)})`, o);
  });
}
