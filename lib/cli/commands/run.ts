// `dedup-lab run` and `dedup-lab plan`.
import type { Command } from "commander";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { formatSummary, summaryLines } from "../../analysis/summary.js";
import { UsageError } from "../../errors.js";
import { liveMetricsConfig, startLiveMetrics } from "../../runner/live-metrics.js";
import { loadBundles, markInterruptedSync } from "../../results/bundle.js";
import { loadAndResolve, loadConfig, type RunConfig } from "../../runner/config.js";
import { formatPlan, planRun } from "../../runner/plan.js";
import { formatShard, formatShardPlan, MAX_SHARDS, parseShard, planShards, shardCells, shardPlanJson, studyId, type ShardSpec } from "../../runner/shards.js";
import { parseWait } from "../../runner/lock.js";
import { runMatrix } from "../../runner/run.js";
import { matrixFlags, overridesFrom, signalExitStatus, wholeNumberArg, type MatrixFlagValues } from "../options.js";
import { preflightRun } from "../paths.js";
import { progressReporter } from "../progress.js";


interface RunFlags extends MatrixFlagValues {
  out?: string;
  dryRun?: boolean;
  resume?: string;
  quiet?: boolean;
  waitLock?: string;
  shard?: ShardSpec;
}

interface PlanFlags extends MatrixFlagValues {
  shards?: number;
  json?: boolean;
}

function hasMatrixFlags(o: RunFlags): boolean {
  return ["config", "systems", "payloads", "grades", "granularities", "placements", "insertion", "keys", "stages", "units", "unitSize", "blockSize", "repeats", "seed", "labPrefix"]
    .some((k) => (o as Record<string, unknown>)[k] !== undefined);
}

/** Config for --resume: the one stored in the bundle, unless flags say otherwise (then they must agree). */
async function resumeConfig(dir: string, o: RunFlags): Promise<RunConfig> {
  const path = join(dir, "config.json");
  if (!existsSync(path)) throw new UsageError(`${dir} is not a dedup-lab run bundle (no config.json)`, "pass a directory written by `dedup-lab run`");
  if (hasMatrixFlags(o)) return loadConfig(o.config, overridesFrom(o));
  const stored = JSON.parse(readFileSync(path, "utf8")) as { resolved: unknown };
  return loadAndResolve(stored.resolved, {}, `config of ${dir}`);
}

export function registerRun(program: Command): void {
  matrixFlags(
    program
      .command("run")
      .description("run a slice of the experiment matrix and write a run bundle (default: the embedded slice)")
      .option("--out <dir>", "write the bundle into this (new or empty) directory instead of results/<run_id>")
      .option("--dry-run", "print the cells, bytes and a duration estimate; open no connection, write nothing")
      .option("--resume <dir>", "continue an interrupted run: finished cells are kept, the rest run")
      .option("--quiet", "no progress output")
      .option("--wait-lock <duration>", "wait up to this long (e.g. 90s, 30m) for a server another run holds, instead of refusing at once")
      .option("--shard <i/N>", "run only shard i of N (1-based, see `plan --shards N`); every shard writes its own bundle, `merge` joins them", parseShard),
  ).action(async (o: RunFlags) => {
    if (o.resume && o.out) throw new UsageError("--resume and --out both name a bundle directory", "pass only --resume DIR");
    if (o.resume && !existsSync(o.resume)) throw new UsageError(`resume directory ${o.resume} does not exist`, "pass the results/<run_id> directory of the run to continue");
    const waitLockMs = o.waitLock === undefined ? 0 : parseWait(o.waitLock);
    const cfg = o.resume ? await resumeConfig(o.resume, o) : await loadConfig(o.config, overridesFrom(o));
    liveMetricsConfig(cfg.metrics); // a bad metrics block is bad input, also for --dry-run
    // The event stream's client loads only when an events block exists (a dry run still opens nothing).
    const events = cfg.events === undefined ? undefined : await import("../../runner/kafka-events.js");
    const eventsCfg = events?.eventsConfig(cfg.events);
    if (o.dryRun) {
      if (o.shard) {
        const only = shardCells(cfg, o.shard);
        process.stdout.write(`shard ${formatShard(o.shard)} of study ${studyId(cfg)}\n${formatPlan(planRun(cfg, (id) => only.has(id)))}\n`);
      } else process.stdout.write(formatPlan(planRun(cfg)) + "\n");
      return;
    }
    preflightRun(cfg, o.resume ?? o.out); // bad paths, unset credentials: exit 2 before anything is written
    // SIGINT (Ctrl-C) and SIGTERM stop the run cleanly; the exit status names the first one
    // (130 / 143). A second signal quits at once, but leaves the bundle `interrupted` with the
    // resume line; the domain locks stay behind with a dead holder, so the next run on those
    // servers removes the cell's lab objects. Messages go to stderr, stdout keeps the results.
    const controller = new AbortController();
    let stoppedBy: NodeJS.Signals | undefined;
    let bundleDir: string | undefined;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stoppedBy) {
        if (bundleDir) {
          try {
            markInterruptedSync(bundleDir);
            process.stderr.write(`${sig} again: quit at once — the current cell's lab objects are left for the next run on the same servers to remove\n`);
            process.stderr.write(`interrupted by ${stoppedBy} — continue with: npx dedup-lab run --resume ${bundleDir}\n`);
          } catch (e) {
            process.stderr.write(`${sig} again: quit at once; ${bundleDir}/bundle.json could not be marked interrupted: ${(e as Error).message}\n`);
          }
        }
        process.exit(signalExitStatus(stoppedBy));
      }
      stoppedBy = sig;
      process.stderr.write(`\n${sig}: finishing the current operation, cleaning up and saving results (again to force quit)\n`);
      controller.abort();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    const live = await startLiveMetrics(cfg.metrics);
    const stream = eventsCfg ? await events!.KafkaEventStream.open(eventsCfg, cfg.lab) : undefined;
    try {
      const result = await runMatrix(cfg, {
        dir: o.resume ?? o.out,
        resume: !!o.resume,
        signal: controller.signal,
        waitLockMs,
        shard: o.shard,
        notice: (line) => process.stderr.write(`dedup-lab: ${line}\n`),
        events: [
          { runStart: (i) => void (bundleDir = i.dir) },
          ...(o.quiet ? [] : [progressReporter(process.stderr)]),
          ...(live ? [live] : []),
          ...(stream ? [events!.stageEventListener(stream)] : []),
        ],
      }).catch((e: unknown) => {
        // Stopped before a bundle exists (e.g. while waiting for a lock): the signal's status, not bad input.
        if (!stoppedBy) throw e;
        process.stderr.write(`dedup-lab: ${(e as Error).message}\n`);
        return undefined;
      });
      if (!result) {
        process.exitCode = signalExitStatus(stoppedBy!);
        return;
      }
      const bundle = await loadBundles([result.dir]);
      if (!o.quiet) process.stdout.write(formatSummary(summaryLines(bundle)) + "\n");
      const meta = bundle.metas[0];
      const shardNote = meta?.shard ? `; shard ${formatShard(meta.shard)} of ${meta.study_id}` : "";
      process.stdout.write(`\nbundle: ${result.dir}  (${result.done} cells done, ${result.failed} failed${result.skipped ? `, ${result.skipped} kept from before` : ""}${shardNote})\n`);
      if (result.interrupted) process.stderr.write(`interrupted${stoppedBy ? ` by ${stoppedBy}` : ""} — continue with: npx dedup-lab run --resume ${result.dir}\n`);
      process.exitCode = result.interrupted ? signalExitStatus(stoppedBy ?? "SIGINT") : result.failed > 0 ? 1 : 0;
    } finally {
      await live?.close();
      const sent = await stream?.close();
      if (sent?.failed) process.stderr.write(`dedup-lab: ${sent.failed} stage events could not be sent to ${sent.topic}: ${sent.lastError}\n`);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  });

  matrixFlags(
    program
      .command("plan")
      .description("what a run would do: cells, bytes, duration estimate (opens no connection); --shards N splits it for parallel runs")
      .option("--shards <n>", "assign the cells to N shards (isolation domains kept whole, estimated durations balanced)", (v) => wholeNumberArg(v, "--shards", MAX_SHARDS, 4))
      .option("--json", "print the plan as JSON"),
  ).action(async (o: PlanFlags) => {
    const cfg = await loadConfig(o.config, overridesFrom(o));
    if (o.shards !== undefined) {
      const { plan, assignment } = planShards(cfg, o.shards);
      process.stdout.write((o.json ? JSON.stringify(shardPlanJson(cfg, plan, assignment), null, 2) : formatShardPlan(cfg, plan, assignment)) + "\n");
      return;
    }
    const plan = planRun(cfg);
    if (o.json) {
      const json = {
        cells: plan.cells.map((c) => ({ cell_id: c.cell.id, insertion: c.cell.insertion, keys: c.cell.keys ?? "", bytes_written: c.bytesWritten, ideal_ratio: c.idealRatio, operations: c.operations })),
        bytes: plan.bytes, operations: plan.operations, estimate_seconds: plan.estimateSeconds, endpoints: plan.endpoints, expected: plan.expected,
      };
      process.stdout.write(JSON.stringify(json, null, 2) + "\n");
    } else process.stdout.write(formatPlan(plan) + "\n");
  });
}
