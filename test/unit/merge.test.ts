// `dedup-lab merge` (issue 16): shard bundles of one study become one bundle that analysis reads
// exactly like a single run's; mismatched configurations or seeds, duplicate cells and missing
// cells are refused with one line, and nothing is written then. The bundles are real: a small
// embedded matrix run serially and as two shards (runMatrix, no server involved).
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatSummary, summaryLines } from "../../lib/analysis/summary.js";
import { framesOf } from "../../lib/analysis/frames.js";
import { thesisFigures, thesisTables } from "../../lib/analysis/thesis.js";
import { toMarkdown } from "../../lib/analysis/thesis-tables.js";
import { loadBundles, type BundleMeta } from "../../lib/results/bundle.js";
import { loadAndResolve, type RunConfig } from "../../lib/runner/config.js";
import { runMatrix } from "../../lib/runner/run.js";
import { planShards, studyId } from "../../lib/runner/shards.js";
import { mainInProcess } from "../helpers/cli-in-process.js";
import { TempDirs } from "../helpers/bundles.js";

const tmp = new TempDirs("dedup-lab-merge-");
const RAW = { matrix: { systems: ["sqlite", "directory"], payloads: ["random_binary"], grades: ["U0", "U90"] }, dataset: { units: 6, unitSize: "4KiB" } };
let cfg: RunConfig;
let work: string;
let serial: string;
let s1: string;
let s2: string;

const meta = (dir: string) => JSON.parse(readFileSync(join(dir, "bundle.json"), "utf8")) as BundleMeta;
const editJson = (path: string, edit: (v: Record<string, unknown>) => void) => {
  const v = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  edit(v);
  writeFileSync(path, JSON.stringify(v, null, 2) + "\n");
};

beforeAll(async () => {
  cfg = await loadAndResolve(structuredClone(RAW));
  work = tmp.make();
  process.env.TMPDIR = work; // the cells' work directories
  serial = join(work, "serial");
  s1 = join(work, "s1");
  s2 = join(work, "s2");
  await runMatrix(cfg, { dir: serial });
  await runMatrix(cfg, { dir: s1, shard: { index: 1, count: 2 } });
  await runMatrix(cfg, { dir: s2, shard: { index: 2, count: 2 } });
}, 180_000);
afterAll(() => tmp.removeAll());

async function merge(args: string[]) {
  return mainInProcess(["merge", ...args]);
}

function expectRefused(r: { status: number; stdout: string; stderr: string }, out: string): string {
  expect(r.status, r.stderr).toBe(2);
  expect(r.stdout).toBe("");
  const lines = r.stderr.split("\n").filter(Boolean);
  expect(lines, r.stderr).toHaveLength(1);
  expect(existsSync(out)).toBe(false); // nothing written
  return lines[0]!;
}

describe("shard bundles", () => {
  it("each records its shard and the study id; together they hold the plan's cells once", () => {
    const { assignment } = planShards(cfg, 2);
    for (const [i, dir] of [s1, s2].entries()) {
      const m = meta(dir);
      expect(m.shard).toEqual({ index: i + 1, count: 2 });
      expect(m.study_id).toBe(studyId(cfg));
      expect(m.status).toBe("complete");
      expect(m.cells_total).toBe(assignment.shards[i]!.cells.length);
      expect(readdirSync(join(dir, "cells")).map((n) => n.replace(/\.json$/, "")).sort()).toEqual([...assignment.shards[i]!.cells].sort());
    }
    expect(meta(s1).run_id).not.toBe(meta(s2).run_id);
    expect(meta(serial).shard).toBeUndefined();
  });

  it("--resume of a shard bundle with another --shard is refused in one line", async () => {
    await expect(runMatrix(cfg, { dir: s1, resume: true, shard: { index: 2, count: 2 } })).rejects.toThrow(/^.*s1 is shard 1\/2, not shard 2\/2 — resume it with --shard 1\/2 or without --shard$/);
    await expect(runMatrix(cfg, { dir: serial, resume: true, shard: { index: 1, count: 2 } })).rejects.toThrow(/serial is a whole run, not shard 1\/2/);
  });

  it("a shard that lost a cell re-runs only that cell on --resume", async () => {
    const dir = join(work, "s2-resume");
    cpSync(s2, dir, { recursive: true });
    const lost = readdirSync(join(dir, "cells"))[0]!;
    rmSync(join(dir, "cells", lost));
    const r = await runMatrix(cfg, { dir, resume: true });
    expect({ done: r.done, skipped: r.skipped }).toEqual({ done: 1, skipped: meta(s2).cells_total - 1 });
    expect(meta(dir).shard).toEqual({ index: 2, count: 2 });
    expect(meta(dir).status).toBe("complete");
    rmSync(dir, { recursive: true });
  }, 60_000);
});

describe("merge", () => {
  it("joins the shards: the plan's cells once, one run id in every row, every shard's provenance and journal kept", async () => {
    const out = join(work, "merged");
    const r = await merge([s1, s2, "--out", out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^shard 1\/2: run \S+ on \S+, \S+ – \S+, \d+ cells\nshard 2\/2: /);
    const m = meta(out);
    expect(m.status).toBe("complete");
    expect(m.cells_total).toBe(4);
    expect(m.cells_done).toBe(4);
    expect(m.study_id).toBe(studyId(cfg));
    expect(m.config_fingerprint).toBe(meta(serial).config_fingerprint);
    expect(m.merged_from!.map((s) => [s.run_id, s.shard, s.started, s.ended])).toEqual(
      [s1, s2].map((d) => [meta(d).run_id, `${meta(d).shard!.index}/2`, meta(d).created, meta(d).updated]),
    );
    expect(m.merged_from!.every((s) => typeof s.host === "string" && s.host.length > 0)).toBe(true);
    for (const d of [s1, s2]) {
      for (const f of ["bundle.json", "env.json", "journal.jsonl", "run.log"]) {
        expect(readFileSync(join(out, "shards", meta(d).run_id, f), "utf8")).toBe(readFileSync(join(d, f), "utf8"));
      }
    }
    const journal = readFileSync(join(out, "journal.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { cell_id: string; run_id: string; shard: string; at: string });
    expect(journal).toHaveLength(4);
    expect(new Set(journal.map((j) => j.shard))).toEqual(new Set(["1/2", "2/2"]));
    expect(journal.map((j) => j.at)).toEqual([...journal.map((j) => j.at)].sort());
    const b = await loadBundles([out]);
    expect(new Set(b.results.getChild("run_id")!.toArray() as string[])).toEqual(new Set([m.run_id]));
    expect(readdirSync(join(out, "manifests")).sort()).toEqual(readdirSync(join(serial, "manifests")).sort());
    for (const f of readdirSync(join(out, "manifests"))) expect(readFileSync(join(out, "manifests", f), "utf8")).toBe(readFileSync(join(serial, "manifests", f), "utf8"));
    const report = await mainInProcess(["report", out]);
    expect(report.status, report.stderr).toBe(0);
    expect(report.stdout).toContain(`run ${m.run_id}: complete, 4/4 cells done, 0 failed`);
  });

  it("gives analysis exactly what the single run gives: the serial bundle cut into two shards and merged again", async () => {
    // Cells of the serial run, split the way the planner splits them: identical measurements, so
    // the summary, every thesis table and every figure spec must come out identical.
    const { assignment } = planShards(cfg, 2);
    const parts = assignment.shards.map((s, i) => {
      const dir = join(work, `cut${i + 1}`);
      cpSync(serial, dir, { recursive: true });
      for (const f of ["results.arrow", "histograms.arrow", "latencies.arrow", "timeseries.arrow", "snapshots.jsonl"]) rmSync(join(dir, f));
      for (const n of readdirSync(join(dir, "cells"))) if (!s.cells.includes(n.replace(/\.json$/, ""))) rmSync(join(dir, "cells", n));
      editJson(join(dir, "bundle.json"), (v) => Object.assign(v, { run_id: `${v.run_id}-cut${i + 1}`, shard: { index: i + 1, count: 2 }, study_id: studyId(cfg) }));
      return dir;
    });
    const out = join(work, "remerged");
    const r = await merge([...parts, "--out", out]);
    expect(r.status, r.stderr).toBe(0);
    const [one, merged] = [await loadBundles([serial]), await loadBundles([out])];
    const runId = meta(out).run_id;
    const same = (x: string) => x.replaceAll(meta(serial).run_id, runId);
    expect(formatSummary(summaryLines(merged))).toBe(formatSummary(summaryLines(one)));
    expect(thesisTables(framesOf(merged)).map(toMarkdown)).toEqual(thesisTables(framesOf(one)).map(toMarkdown).map(same));
    expect(JSON.stringify(thesisFigures(framesOf(merged)))).toBe(same(JSON.stringify(thesisFigures(framesOf(one)))));
    expect(merged.results.numRows).toBe(one.results.numRows);
    expect(merged.latencies.numRows).toBe(one.latencies.numRows);
    expect(merged.histograms.numRows).toBe(one.histograms.numRows);
  });

  it("refuses bundles of different seeds, in one line, writing nothing", async () => {
    const other = join(work, "other-seed");
    cpSync(s2, other, { recursive: true });
    editJson(join(other, "config.json"), (v) => ((v.resolved as { dataset: { seed: string } }).dataset.seed = "7"));
    const out = join(work, "m-seed");
    expect(expectRefused(await merge([s1, other, "--out", out]), out)).toBe(
      `dedup-lab: bundles of different seeds: ${s1} has seed 1, ${other} has seed 7 — merge only the shards of one study (same config, same seed)`,
    );
  });

  it("refuses bundles of different configurations (same seed), in one line", async () => {
    const units = join(work, "units8");
    await runMatrix(await loadAndResolve(structuredClone(RAW), { units: 8, systems: ["directory"], grades: ["U0"] }), { dir: units });
    const out = join(work, "m-config");
    expect(expectRefused(await merge([s1, units, "--out", out]), out)).toMatch(
      new RegExp(`^dedup-lab: bundles of different configurations: ${s1} \\(config [0-9a-f]{16}\\) and ${units} \\(config [0-9a-f]{16}\\) — merge only the shards of one study`),
    );
  }, 60_000);

  it("refuses duplicate cells and lists them", async () => {
    const out = join(work, "m-dup");
    const line = expectRefused(await merge([s1, s2, serial, "--out", out]), out);
    expect(line).toMatch(/^dedup-lab: duplicate cells, done in more than one bundle: /);
    for (const n of readdirSync(join(s1, "cells")).slice(0, 2)) expect(line).toContain(`${n.replace(/\.json$/, "")} (in `);
  });

  it("refuses missing cells and lists them (compared with the plan of the configuration)", async () => {
    const out = join(work, "m-missing");
    const line = expectRefused(await merge([s1, "--out", out]), out);
    const missing = planShards(cfg, 2).assignment.shards[1]!.cells;
    expect(line).toBe(
      `dedup-lab: missing cells, done in none of the bundles: ${missing.join(", ")} (${4 - missing.length} of 4 done) — run the missing shard, or \`dedup-lab run --resume\` the shard bundle whose cells failed, then merge again`,
    );
  });

  it("a failed cell counts as missing; --out must be new or empty; no bundle is bad input", async () => {
    const failed = join(work, "s2-failed");
    cpSync(s2, failed, { recursive: true });
    const victim = readdirSync(join(failed, "cells"))[0]!;
    editJson(join(failed, "cells", victim), (v) => Object.assign(v, { status: "failed", error: "bulk_insert: boom" }));
    const out = join(work, "m-failed");
    expect(expectRefused(await merge([s1, failed, "--out", out]), out)).toContain(`missing cells, done in none of the bundles: ${victim.replace(/\.json$/, "")} (3 of 4 done)`);
    const nonEmpty = await merge([s1, s2, "--out", serial]);
    expect(nonEmpty.status).toBe(2);
    expect(nonEmpty.stderr).toBe(`dedup-lab: output directory ${serial} is not empty — pass a new --out directory\n`);
    const none = await merge([join(work, "nosuch"), "--out", join(work, "m-none")]);
    expect(none.status).toBe(2);
    expect(none.stderr.split("\n").filter(Boolean)).toHaveLength(1);
  });
});
