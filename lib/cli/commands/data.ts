// `dedup-lab data list|fetch|verify|stage|clean NAME…`: real data sets from data-manifests/.
import type { Command } from "commander";
import cliProgress from "cli-progress";
import { UsageError } from "../../errors.js";
import { formatBytes } from "../../bytes.js";
import { dataLocation, type DataConfig } from "../../data/location.js";
import { findManifest, loadManifests, scanManifests, type DataManifest } from "../../data/manifest.js";
import { cleanData, dataContext, fetchData, originOf, stageData, stagedIndexOf, verifyData, type DataContext } from "../../data/stage.js";
import { signalExitStatus } from "../options.js";
import { checkWritableDir } from "../paths.js";
import { join } from "node:path";
import { StagedUnits } from "../../data/staged.js";
import { analyzePotential, sampleFractionFor } from "../../metrics/potential.js";
import { parseBytes } from "../../bytes.js";
import { analyzeFlags, emitPotential, type AnalyzeFlags } from "./datasets.js";

interface DataFlags extends DataConfig {
  retries?: string;
  quiet?: boolean;
  downloads?: boolean;
  records?: boolean;
}

function locationFlags(cmd: Command): Command {
  return cmd
    .option("--root <dir>", "data root: local/NFS sources lie under it, read-only (default: data.root, $DEDUP_DATA_ROOT)")
    .option("--scratch <dir>", "scratch dir for downloads, work copies and staged units (default: $DEDUP_DATA_SCRATCH or <tmp>/dedup-lab-data)")
    .option("--manifests <dir>", "data-manifest directory (default: the shipped data-manifests/, $DEDUP_DATA_MANIFESTS)");
}

/** Progress on stderr: a bar on a TTY, otherwise a line per 25 % (CI logs stay short). */
function progressPrinter(quiet: boolean): Pick<DataContext, "log" | "progress"> & { done(): void } {
  const err = process.stderr;
  if (quiet) return { log: () => {}, progress: () => {}, done: () => {} };
  if (err.isTTY) {
    let bar: cliProgress.SingleBar | undefined;
    let label = "";
    const stop = () => {
      bar?.stop();
      bar = undefined;
      label = "";
    };
    return {
      log: (line) => {
        stop();
        err.write(`${line}\n`);
      },
      progress: (what, bytes, total) => {
        if (what !== label) {
          stop();
          label = what;
          // Unknown totals (packed members) show bytes only: a bar would claim 100 %.
          const format = total ? `${what} {bar} {percentage}% {done}/{all}` : `${what} {done}`;
          bar = new cliProgress.SingleBar({ format, stream: err, hideCursor: true }, cliProgress.Presets.shades_classic);
          bar.start(total ?? 0, 0, { done: "0 B", all: total ? formatBytes(total) : "?" });
        }
        if (total && bar!.getTotal() !== total) bar!.setTotal(total);
        bar!.update(bytes, { done: formatBytes(bytes), all: total ? formatBytes(total) : "?" });
      },
      done: stop,
    };
  }
  let label = "";
  let step = 0;
  return {
    log: (line) => void err.write(`${line}\n`),
    progress: (what, bytes, total) => {
      if (what !== label) (label = what), (step = 0);
      if (!total) return;
      const s = Math.floor((bytes / total) * 4);
      if (s > step) {
        step = s;
        err.write(`${what}: ${Math.min(100, s * 25)}% (${formatBytes(bytes)} of ${formatBytes(total)})\n`);
      }
    },
    done: () => {},
  };
}

function retries(text: string | undefined): number {
  if (text === undefined) return 3;
  if (!/^\d+$/.test(text)) throw new UsageError(`--retries must be a whole number ≥ 0 (got "${text}")`, "pass --retries 3");
  return Number(text);
}

/** Run `work` for every named data set with Ctrl-C/SIGTERM → abort → cleanup → exit 130/143. */
async function perDataSet(chosen: DataManifest[], o: DataFlags, work: (ctx: DataContext, m: DataManifest) => Promise<void>): Promise<void> {
  const loc = dataLocation({ root: o.root, scratch: o.scratch, manifests: o.manifests });
  checkWritableDir(loc.scratch, "scratch directory");
  const controller = new AbortController();
  const printer = progressPrinter(!!o.quiet);
  const ctx = dataContext(loc, { signal: controller.signal, retries: retries(o.retries), log: printer.log, progress: printer.progress });
  let stoppedBy: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stoppedBy) process.exit(signalExitStatus(sig)); // the exit hook still removes work dirs
    stoppedBy = sig;
    process.stderr.write(`\n${sig}: stopping, removing work files\n`);
    controller.abort(new Error(`interrupted by ${sig}`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    for (const m of chosen) {
      await work(ctx, m);
      if (controller.signal.aborted) break;
    }
  } catch (e) {
    if (!controller.signal.aborted) throw e;
  } finally {
    printer.done();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  if (controller.signal.aborted) {
    process.stderr.write("interrupted: work files removed, nothing new staged\n");
    process.exitCode = signalExitStatus(stoppedBy ?? "SIGINT"); // 130 SIGINT, 143 SIGTERM
  }
}

export function registerData(program: Command): void {
  const data = program
    .command("data")
    .description("real data sets (data-manifests/): fetch, verify, stage into distinct units, clean — sources stay read-only");

  locationFlags(data.command("list").description("data sets, their sources and what is staged")).action((o: DataFlags) => {
    const loc = dataLocation(o);
    const ctx = dataContext(loc);
    const { manifests, problems } = scanManifests(loc.manifests);
    for (const m of manifests) {
      const staged = stagedIndexOf(ctx, m.payload);
      process.stdout.write(`${m.name}  payload ${m.payload}  (${m.title}; ${m.licence})\n`);
      for (const s of m.sources) {
        let where: string;
        try {
          const origin = originOf(ctx, m, s);
          where = origin.kind === "local" ? `local ${origin.path}` : `${s.url}`;
        } catch (e) {
          where = `MISSING: ${(e as Error).message.split(" — ")[0]}`;
        }
        process.stdout.write(`  ${s.id}: ${where}, ${s.archive}, ${s.expected_size === null ? "size unknown" : `${s.size_exact ? "" : "~"}${formatBytes(s.expected_size)}`}, sha256 ${s.sha256 ?? `not known offline (${s.verify})`}\n`);
      }
      process.stdout.write(staged ? `  staged: ${staged.units} units, ${formatBytes(staged.bytes)} (${staged.staged_at})\n` : "  staged: no\n");
    }
    for (const p of problems) process.stdout.write(`INVALID: ${p}\n`);
    if (problems.length > 0) process.exitCode = 2;
  });

  /** The named data sets; every name is checked before anything starts. */
  const chosenOf = (names: string[], o: DataFlags): DataManifest[] => {
    const dir = dataLocation(o).manifests;
    const manifests = loadManifests(dir);
    return names.map((n) => findManifest(manifests, n, dir));
  };

  locationFlags(data.command("fetch").description("download URL sources into the scratch dir (resumable); check that local sources exist"))
    .argument("<name...>", "data set or payload names")
    .option("--retries <n>", "extra attempts after a cut connection, each resuming (default 3)")
    .option("--quiet", "no progress output")
    .action(async (names: string[], o: DataFlags) => {
      await perDataSet(chosenOf(names, o), o, async (ctx, m) => {
        const sources = await fetchData(ctx, m);
        process.stdout.write(`${m.name}: ${sources.length} source(s) ready (${formatBytes(sources.reduce((a, s) => a + s.size, 0))})\n`);
      });
    });

  locationFlags(data.command("verify").description("hash every source (local ones in place, read-only) against the manifest or the recorded hash"))
    .argument("<name...>", "data set or payload names")
    .option("--quiet", "no progress output")
    .action(async (names: string[], o: DataFlags) => {
      await perDataSet(chosenOf(names, o), o, async (ctx, m) => {
        const sources = await verifyData(ctx, m);
        process.stdout.write(`${m.name}: OK — ${sources.map((s) => `${s.id} ${s.sha256} (${s.checksum})`).join(", ")}\n`);
      });
    });

  locationFlags(data.command("stage").description("copy/download, verify, cut into distinct units and stage them for the payload type"))
    .argument("<name...>", "data set or payload names")
    .option("--retries <n>", "extra download attempts after a cut connection (default 3)")
    .option("--quiet", "no progress output")
    .action(async (names: string[], o: DataFlags) => {
      await perDataSet(chosenOf(names, o), o, async (ctx, m) => {
        const index = await stageData(ctx, m);
        process.stdout.write(
          `${m.name}: payload ${m.payload} staged — ${index.units} distinct units, ${formatBytes(index.bytes)} (${index.bytes} B), ` +
            `unit sizes ${index.min_unit}..${index.max_unit} B, ${index.duplicates_dropped} duplicate units dropped, ${index.dropped_bytes} B outside units\n`,
        );
      });
    });

  locationFlags(data.command("clean").description("remove staged units and leftover work files (never anything under the data root)"))
    .argument("<name...>", "data set or payload names")
    .option("--downloads", "also remove downloaded sources")
    .option("--records", "also forget the sha256 recorded on first fetch")
    .action((names: string[], o: DataFlags) => {
      const ctx = dataContext(dataLocation(o), { log: (l) => void process.stderr.write(`${l}\n`) });
      for (const m of chosenOf(names, o)) {
        const removed = cleanData(ctx, m, { downloads: o.downloads, records: o.records });
        process.stdout.write(removed.length ? `${m.name}: removed ${removed.join(", ")}\n` : `${m.name}: nothing to remove\n`);
      }
    });

  analyzeFlags(
    locationFlags(data.command("analyze").description("deduplication and compression potential of staged data (its distinct units, U0); writes potential.json beside the staged index.json"))
      .argument("<name...>", "data set or payload names"),
  ).action(async (names: string[], o: DataFlags & AnalyzeFlags) => {
    const ctx = dataContext(dataLocation(o));
    for (const m of chosenOf(names, o)) {
      const dir = ctx.scratch.staged(m.payload);
      const staged = StagedUnits.open(dir, m.payload);
      try {
        const sample = sampleFractionFor(staged.index.bytes, parseBytes(o.compressionBudget, "compression budget"));
        function* units() {
          for (let i = 0; i < staged.count; i++) {
            const b = Buffer.allocUnsafe(staged.sizeOf(i));
            staged.read(i, b);
            yield b;
          }
        }
        const report = await analyzePotential(units(), { compressionSample: sample });
        await emitPotential(report, join(dir, "potential.json"), `${m.name}: payload ${m.payload}, ${staged.count} staged units, ${formatBytes(staged.index.bytes)}`, o);
      } finally {
        staged.close();
      }
    }
  });
}
