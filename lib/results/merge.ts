// `dedup-lab merge`: one bundle from the bundles of a sharded study (or any bundles of one
// configuration that together hold every cell once). Refused, with one line and nothing
// written: bundles of different configurations or seeds, a cell done in two bundles, a cell
// of the plan done in none, a dataset manifest that differs between bundles.
//
// The merged bundle is laid out like a single run's: bundle.json, config.json, env.json,
// manifests/, cells/, journal.jsonl, run.log and the folded Arrow tables. Its rows carry the
// merged run id (analysis counts repeats as distinct (run_id, repeat) pairs, so shards keeping
// their own ids would look like extra repeats). Every shard's provenance stays: bundle.json
// `merged_from` (run id, shard, host, start, end, status), and shards/<run_id>/ holds each
// shard's own bundle.json, env.json, journal.jsonl and run.log; the merged journal and log are
// all shards' entries in time order, each naming its run id and shard.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { UsageError } from "../errors.js";
import { readMeta, RunBundle, type BundleMeta, type CellRecord, type JournalEntry, type MergedShard } from "./bundle.js";

export interface MergeSource {
  dir: string;
  meta: BundleMeta;
  /** config.json as the run wrote it (redacted). */
  config: { resolved: unknown; fingerprint: string };
  cells: CellRecord[];
}

const listed = (xs: string[], max = 8) => xs.slice(0, max).join(", ") + (xs.length > max ? `, … (${xs.length} in all)` : "");

function shardLabel(m: BundleMeta): string | null {
  return m.shard ? `${m.shard.index}/${m.shard.count}` : null;
}

async function readJson<T>(path: string, what: string, dir: string): Promise<T> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as T;
  } catch {
    throw new UsageError(`${dir} has no readable ${what}`, "pass directories written by `dedup-lab run`");
  }
}

/** Read every bundle to merge (metadata, stored config, cell files). */
export async function readMergeSources(dirs: string[]): Promise<MergeSource[]> {
  if (dirs.length === 0) throw new UsageError("no bundle to merge", "pass the shard bundles: dedup-lab merge B1 B2 … --out DIR");
  const out: MergeSource[] = [];
  for (const dir of dirs) {
    const meta = await readMeta(dir);
    const config = await readJson<MergeSource["config"]>(join(dir, "config.json"), "config.json", dir);
    const cellsDir = join(dir, "cells");
    const names = existsSync(cellsDir) ? (await readdir(cellsDir)).filter((n) => n.endsWith(".json")).sort() : [];
    const cells = await Promise.all(names.map((n) => readJson<CellRecord>(join(cellsDir, n), `cell file cells/${n}`, dir)));
    out.push({ dir, meta, config, cells });
  }
  return out;
}

function seedOf(s: MergeSource): string {
  const d = (s.config.resolved as { dataset?: { seed?: unknown } } | null)?.dataset;
  return String(d?.seed ?? "?");
}

/** Same configuration and seed in every bundle: the one-line refusal names the first bundle that differs. */
export function checkSameStudy(sources: MergeSource[]): void {
  const first = sources[0]!;
  for (const s of sources.slice(1)) {
    if (seedOf(s) !== seedOf(first)) {
      throw new UsageError(`bundles of different seeds: ${first.dir} has seed ${seedOf(first)}, ${s.dir} has seed ${seedOf(s)}`, "merge only the shards of one study (same config, same seed)");
    }
    if (s.meta.config_fingerprint !== first.meta.config_fingerprint) {
      throw new UsageError(
        `bundles of different configurations: ${first.dir} (config ${first.meta.config_fingerprint}) and ${s.dir} (config ${s.meta.config_fingerprint})`,
        "merge only the shards of one study (same config, same seed)",
      );
    }
  }
}

export interface MergePlan {
  /** The cell chosen for every cell id, from its bundle. */
  cells: { source: MergeSource; record: CellRecord }[];
  /** Manifest file name → the bundle to copy it from. */
  manifests: Map<string, string>;
}

/**
 * Check the sources against the plan of their configuration (`expected`: every cell id of the
 * matrix) and choose one record per cell. A cell done in two bundles, or done in none (failed
 * or absent), is refused with one line listing the cells.
 */
export async function planMerge(sources: MergeSource[], expected: string[]): Promise<MergePlan> {
  checkSameStudy(sources);
  const done = new Map<string, { source: MergeSource; record: CellRecord }[]>();
  for (const source of sources) {
    for (const record of source.cells) {
      if (record.status !== "done") continue;
      done.set(record.cell_id, [...(done.get(record.cell_id) ?? []), { source, record }]);
    }
  }
  const expectedSet = new Set(expected);
  const foreign = [...done.keys()].filter((id) => !expectedSet.has(id)).sort();
  if (foreign.length) throw new UsageError(`cells not in the plan of the configuration: ${listed(foreign)}`, "merge bundles of the same configuration only");
  const duplicates = [...done.entries()].filter(([, v]) => v.length > 1).map(([id, v]) => `${id} (in ${v.map((x) => x.source.dir).join(" and ")})`);
  if (duplicates.length) throw new UsageError(`duplicate cells, done in more than one bundle: ${listed(duplicates, 4)}`, "pass each shard's bundle once, or drop the extra bundle");
  const missing = expected.filter((id) => !done.has(id));
  if (missing.length) {
    throw new UsageError(
      `missing cells, done in none of the bundles: ${listed(missing)} (${expected.length - missing.length} of ${expected.length} done)`,
      "run the missing shard, or `dedup-lab run --resume` the shard bundle whose cells failed, then merge again",
    );
  }
  // Manifests: one per dataset; bundles that hold the same dataset must hold the same manifest.
  const manifests = new Map<string, string>();
  const texts = new Map<string, string>();
  for (const s of sources) {
    const dir = join(s.dir, "manifests");
    if (!existsSync(dir)) continue;
    for (const name of (await readdir(dir)).filter((n) => n.endsWith(".json")).sort()) {
      const text = await readFile(join(dir, name), "utf8");
      const seen = texts.get(name);
      if (seen === undefined) {
        texts.set(name, text);
        manifests.set(name, join(dir, name));
      } else if (seen !== text) {
        throw new UsageError(`dataset manifest ${name} differs between ${manifests.get(name)} and ${join(dir, name)}`, "merge only bundles written from the same configuration and seed");
      }
    }
  }
  return { cells: expected.map((id) => done.get(id)![0]!), manifests };
}

/** The merged bundle's run id: the study's id (or the configuration's) and a hash of the merged runs. */
export function mergedRunId(sources: MergeSource[]): string {
  const base = sources.find((s) => s.meta.study_id)?.meta.study_id ?? `merge-${sources[0]!.meta.config_fingerprint}`;
  const runs = sources.map((s) => s.meta.run_id).sort().join("\n");
  return `${base}-m${createHash("sha256").update(runs).digest("hex").slice(0, 6)}`;
}

function withRunId(record: CellRecord, runId: string): CellRecord {
  const set = <T extends { run_id: string }>(rows: T[]) => rows.map((r) => ({ ...r, run_id: runId }));
  return { ...record, rows: set(record.rows), histograms: set(record.histograms), latencies: set(record.latencies), timeseries: set(record.timeseries) };
}

async function readOptional(path: string): Promise<string> {
  return existsSync(path) ? readFile(path, "utf8") : "";
}

export interface MergeResult {
  runId: string;
  dir: string;
  cells: number;
  shards: MergedShard[];
}

/** Write the merged bundle into `out` (absent or empty), after planMerge accepted the sources. */
export async function writeMerged(sources: MergeSource[], plan: MergePlan, out: string): Promise<MergeResult> {
  const runId = mergedRunId(sources);
  // Sources in shard order (then run id): the first one's config.json and env.json lead.
  const ordered = [...sources].sort((a, b) => (a.meta.shard?.index ?? 0) - (b.meta.shard?.index ?? 0) || (a.meta.run_id < b.meta.run_id ? -1 : 1));
  const envs = await Promise.all(ordered.map(async (s) => (existsSync(join(s.dir, "env.json")) ? (JSON.parse(await readFile(join(s.dir, "env.json"), "utf8")) as Record<string, unknown>) : {})));
  const shards: MergedShard[] = ordered.map((s, i) => ({
    run_id: s.meta.run_id,
    shard: shardLabel(s.meta),
    host: typeof envs[i]!.hostname === "string" ? (envs[i]!.hostname as string) : null,
    started: s.meta.created,
    ended: s.meta.updated,
    status: s.meta.status,
    cells: plan.cells.filter((c) => c.source === s).length,
  }));
  const first = ordered[0]!;
  const bundle = await RunBundle.create(out, {
    run_id: runId, cells_total: plan.cells.length, config_fingerprint: first.meta.config_fingerprint,
    ...(first.meta.study_id ? { study_id: first.meta.study_id } : {}),
    merged_from: shards,
  });
  bundle.meta.created = shards.map((s) => s.started).sort()[0]!;
  await bundle.writeJson("config.json", first.config);
  // env.json: the first shard's, plus every shard's under `shards` (host, versions, start).
  await bundle.writeJson("env.json", { ...envs[0], shards: ordered.map((s, i) => ({ run_id: s.meta.run_id, shard: shardLabel(s.meta), ...envs[i] })) });
  for (const [name, from] of plan.manifests) await copyFile(from, join(out, "manifests", name));
  for (const { record } of plan.cells) await bundle.writeJson(join("cells", `${record.cell_id}.json`), withRunId(record, runId));

  // Provenance: each shard's own files, unchanged.
  const journal: (JournalEntry & { run_id: string; shard: string | null })[] = [];
  const log: string[] = [];
  for (const s of ordered) {
    const keep = join(out, "shards", s.meta.run_id);
    await mkdir(keep, { recursive: true });
    for (const f of ["bundle.json", "env.json", "config.json", "journal.jsonl", "run.log"]) {
      if (existsSync(join(s.dir, f))) await copyFile(join(s.dir, f), join(keep, f));
    }
    for (const line of (await readOptional(join(s.dir, "journal.jsonl"))).split("\n").filter(Boolean)) {
      journal.push({ ...(JSON.parse(line) as JournalEntry), run_id: s.meta.run_id, shard: shardLabel(s.meta) });
    }
    for (const line of (await readOptional(join(s.dir, "run.log"))).split("\n").filter(Boolean)) {
      const at = line.indexOf(" ");
      log.push(`${line.slice(0, at)} [${shardLabel(s.meta) ? `shard ${shardLabel(s.meta)}, ` : ""}run ${s.meta.run_id}]${line.slice(at)}`);
    }
  }
  // Stable sorts by time: entries of one shard keep their order.
  journal.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  log.sort((a, b) => (a.slice(0, 24) < b.slice(0, 24) ? -1 : a.slice(0, 24) > b.slice(0, 24) ? 1 : 0));
  await writeFile(join(out, "journal.jsonl"), journal.map((e) => JSON.stringify(e)).join("\n") + (journal.length ? "\n" : ""));
  log.push(`${new Date().toISOString()} merged ${sources.length} bundles (${shards.map((s) => `${s.run_id}${s.shard ? ` shard ${s.shard}` : ""}`).join(", ")}) into run ${runId}: ${plan.cells.length} cells`);
  await writeFile(join(out, "run.log"), log.join("\n") + "\n");
  await bundle.finalize("complete");
  return { runId, dir: out, cells: plan.cells.length, shards };
}
