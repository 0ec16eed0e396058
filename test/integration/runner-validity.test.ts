// Numbers a reviewer cannot break (issue 11): the bulk clock against a load of pre-generated
// batches on real servers, fresh baselines whatever the stage order, settled WAL boundaries,
// and the one validity rule over a whole bundle.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dataset } from "../../lib/generators/dataset.js";
import type { Unit } from "../../lib/generators/unit.js";
import { MeasuredSystem } from "../../lib/metrics/measured-system.js";
import { mean, quantile, sd, tQuantile975 } from "../../lib/metrics/stats.js";
import { BatchFeeder } from "../../lib/runner/batch-feeder.js";
import { loadConfig, resolveConfig } from "../../lib/runner/config.js";
import { expandMatrix } from "../../lib/runner/matrix.js";
import { runMatrix } from "../../lib/runner/run.js";
import { STAGES, type Stage } from "../../lib/systems/contract.js";
import { loadSystems, systemDefinition } from "../../lib/systems/registry.js";
import { rowsOf, TempDirs } from "../helpers/bundles.js";
import { ROOT, loadServicesEnv } from "../helpers/services-env.js";

const temps = new TempDirs("dedup-lab-validity-");
const median = (xs: number[]): number => quantile(xs, 0.5);
afterAll(() => temps.removeAll());

function permutations<T>(xs: readonly T[]): T[][] {
  if (xs.length <= 1) return [[...xs]];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}

async function run(raw: object, overrides: Parameters<typeof resolveConfig>[1] = {}) {
  const cfg = resolveConfig(raw, overrides);
  const dir = join(temps.make(), "bundle");
  const res = await runMatrix(cfg, { dir });
  expect(res.failed).toBe(0);
  return rowsOf(dir);
}

describe("stage order: every order starts each stage from a fresh, recorded baseline", () => {
  it("all 24 orders of the four stages on sqlite: inserts start empty, a delete starts from the dataset, no dirty baseline", async () => {
    for (const order of permutations(STAGES)) {
      const rows = await run({ matrix: { systems: ["sqlite"], payloads: ["random_binary"], grades: ["U50"], stages: order }, dataset: { units: 12, unitSize: "8KiB" } });
      const l1 = (stage: Stage, phase: string) => rows.find((r) => r.stage === stage && r.metric === "size_bytes" && r.layer === "L1" && r.phase === phase)!;
      const logical = rows.find((r) => r.stage === "dataset" && r.metric === "logical_bytes")!.value!;
      const empty = rows.find((r) => r.stage === "prepare" && r.metric === "size_bytes" && r.layer === "L1")!.value!;
      for (const s of ["bulk_insert", "perfile_insert"] as const) {
        expect(l1(s, "before").value, `${order.join(">")}: ${s} starts from the empty cell's recorded baseline`).toBe(empty);
        expect(l1(s, "delta").value, `${order.join(">")}: ${s} stores the dataset`).toBeGreaterThanOrEqual(logical);
      }
      expect(l1("perfile_delete", "before").value, `${order.join(">")}: the delete finds the dataset`).toBeGreaterThanOrEqual(logical);
      expect(rows.filter((r) => r.reason.includes("baseline not fresh")), order.join(">")).toEqual([]);
    }
  }, 420_000); // 24 runs, each cell on its own loop-device volume
});

describe("settled boundaries: WAL contents never leak across stages", () => {
  // Compared at L2 (the files the system keeps), where WAL contents would leak across a stage
  // boundary. L3 is a thin volume now: WAL mode's checkpointed-and-truncated WAL stays allocated
  // in the image until a trim (the Longhorn behaviour), so its L3 EDR is lower by design — printed.
  it("WAL-mode SQLite insert reduction at L2 is within 2 % of rollback mode; DuckDB bulk and per-unit agree within 2 %", async () => {
    const rows = await run({
      matrix: { systems: ["sqlite", "duckdb"], payloads: ["random_binary", "text_document"], grades: ["U0", "U90"], stages: ["bulk_insert", "perfile_insert"] },
      dataset: { units: 60, unitSize: "16KiB" },
      systems: { sqlite: { variants: ["rollback", "wal"] } },
    });
    const edr = (system: string, variant: string, payload: string, grade: string, stage: string) =>
      rows.find((r) => r.system === system && r.variant === variant && r.payload === payload && r.grade === grade && r.stage === stage && r.metric === "reduction_ratio" && r.layer === "L2")!;
    const l3 = (variant: string, payload: string, grade: string, stage: string) =>
      rows.find((r) => r.system === "sqlite" && r.variant === variant && r.payload === payload && r.grade === grade && r.stage === stage && r.metric === "edr_cluster")!.value;
    for (const payload of ["random_binary", "text_document"]) {
      for (const grade of ["U0", "U90"]) {
        for (const stage of ["bulk_insert", "perfile_insert"]) {
          const rollback = edr("sqlite", "rollback", payload, grade, stage);
          const wal = edr("sqlite", "wal", payload, grade, stage);
          expect(rollback.valid && wal.valid, `${payload} ${grade} ${stage}: ${rollback.reason} ${wal.reason}`).toBe(true);
          expect(Math.abs(wal.value! / rollback.value! - 1), `${payload} ${grade} ${stage} wal ${wal.value} rollback ${rollback.value}`).toBeLessThan(0.02);
          console.log(`sqlite ${payload} ${grade} ${stage}: L2 reduction wal ${wal.value!.toFixed(4)} rollback ${rollback.value!.toFixed(4)}; L3 EDR on the thin volume wal ${l3("wal", payload, grade, stage)?.toFixed(4)} rollback ${l3("rollback", payload, grade, stage)?.toFixed(4)}`);
        }
        const bulk = edr("duckdb", "default", payload, grade, "bulk_insert");
        const each = edr("duckdb", "default", payload, grade, "perfile_insert");
        expect(bulk.valid && each.valid, `${bulk.reason} ${each.reason}`).toBe(true);
        expect(Math.abs(each.value! / bulk.value! - 1), `duckdb ${payload} ${grade}: bulk ${bulk.value} per unit ${each.value}`).toBeLessThan(0.02);
      }
    }
  });
});

describe("validity follows from reasons", () => {
  it("the default embedded slice: no valid row carries a reason, every row with a reason is invalid, timeseries are written", async () => {
    const dir = join(temps.make(), "bundle");
    const res = await runMatrix(resolveConfig({ matrix: { payloads: ["random_binary", "structured_json"], grades: ["U0", "U90"] }, dataset: { units: 30 } }), { dir });
    expect(res.failed).toBe(0);
    const rows = await rowsOf(dir);
    expect(rows.filter((r) => r.valid && r.reason !== "")).toEqual([]);
    expect(rows.filter((r) => !r.valid && r.reason === "")).toEqual([]);
    expect(rows.filter((r) => r.valid && r.value === null)).toEqual([]);
    // Every insert EDR of the embedded systems is measured and valid once their layers are settled.
    const edrs = rows.filter((r) => r.metric === "edr_cluster" && (r.stage === "bulk_insert" || r.stage === "perfile_insert"));
    expect(edrs.length).toBe(3 * 2 * 2 * 2);
    expect(edrs.filter((r) => !r.valid).map((r) => `${r.cell_id} ${r.stage}: ${r.reason}`)).toEqual([]);
    const { tableFromIPC } = await import("apache-arrow");
    const { readFile } = await import("node:fs/promises");
    const ts = tableFromIPC(await readFile(join(dir, "timeseries.arrow")));
    expect(ts.numRows).toBeGreaterThan(0);
    // Every series of a stage opens with the settled baseline at the stage's start (a sub-second
    // stage has no sampler samples; without it its change would start at the first settle poll).
    const points = ts.toArray().map((r) => r.toJSON() as { cell_id: string; stage: string; metric: string; replica: string; source: string; t: number; value: number });
    const starts = new Map(rows.filter((r) => r.metric === "stage_start").map((r) => [`${r.cell_id}/${r.stage}`, r.value]));
    const series = new Map<string, typeof points>();
    for (const p of points) series.set(`${p.cell_id}/${p.stage}/${p.metric}/${p.replica}`, [...(series.get(`${p.cell_id}/${p.stage}/${p.metric}/${p.replica}`) ?? []), p]);
    expect(series.size).toBeGreaterThan(0);
    for (const [key, ps] of series) {
      const first = ps.reduce((a, b) => (Number(b.t) < Number(a.t) ? b : a));
      expect(first.source, key).toBe("baseline");
      expect(Number(first.t), key).toBe(starts.get(`${first.cell_id}/${first.stage}`));
      expect(ps.filter((p) => p.source === "baseline"), key).toHaveLength(1);
    }
  });
});

describe("fresh baselines on the loop-device volumes", () => {
  it("DuckDB at the default 100 units: no stale baseline, no negative reclaim (ext4's group preallocation kept ~1.9 MB of freed blocks from every trim)", async () => {
    const dir = join(temps.make(), "bundle");
    const res = await runMatrix(resolveConfig({ matrix: { systems: ["duckdb"], payloads: ["structured_json", "jsonb_documents"], grades: ["U0", "U50", "U90"] } }), { dir });
    expect(res.failed).toBe(0);
    const rows = await rowsOf(dir);
    // (Rows invalid by definition — EDR of a delete, reclaim time of a layer that did not change — are not the point.)
    const stale = rows.filter((r) => !r.valid && /baseline not fresh|negative reclaim/.test(r.reason));
    expect(stale.map((r) => `${r.cell_id} ${r.stage} ${r.metric}: ${r.reason}`)).toEqual([]);
    expect(rows.filter((r) => r.metric === "edr_cluster" && r.stage.endsWith("insert") && r.valid)).toHaveLength(6 * 2);
  }, 300_000);
});

describe("bulk clock: wall time with input produced ahead (real PostgreSQL and Redis)", () => {
  beforeAll(async () => {
    loadServicesEnv();
    await loadSystems(["postgres", "redis"]);
  });

  for (const name of ["postgres", "redis"]) {
    it(`${name}: the runner's bulk path stores every byte with its input ready ahead; MB/s not shown off by more than 10 % from a pre-generated load in the same run`, async () => {
      // PostgreSQL: 128 MiB, the whole read-ahead. Redis: 48 MiB, below its AOF's auto-rewrite minimum (64 MB), with
      // the AOF rewritten after each reset — an automatic rewrite (a fork of the whole dataset) inside some loads made
      // Redis's quartets vary by ±20 % and more.
      const units = name === "redis" ? 96 : 256;
      const cfg = await loadConfig(join(ROOT, "examples/local-services.yaml"), { systems: [name], payloads: ["random_binary"], grades: ["U0"], units, unitSize: "512KiB" });
      const cell = expandMatrix(cfg, "timing")[0]!;
      const system = systemDefinition(name).create(cell.system.options, cfg.lab);
      const ds = new Dataset(cell.dataset);
      const pregenerated: Unit[][] = [...ds.batches(cfg.batchBytes)];
      const bytes = pregenerated.flat().reduce((a, u) => a + u.size, 0);
      await system.connect();
      try {
        await system.prepare({ lab: cfg.lab, cellKey: `${cell.key}t`, variant: cell.variant, containers: 1, workDir: temps.make(), log: () => {} });
        const reference: number[] = [];
        const runner: number[] = [];
        const waitShares: number[] = [];
        const measured = new MeasuredSystem(system);
        // Each load is made ready first (the runner's feeder fills its read-ahead), then the cell is reset and settled,
        // then the clock runs: both paths start their load right after the settle. (Starting the feeder after the settle
        // gave the runner ~0.3 s of idle server before its clock — Redis then measured 1.11–1.21× the pre-generated load,
        // whose clock started while the reset's background work was still finishing.)
        const loadReference = {
          ready: async () => async () => {
            const t0 = process.hrtime.bigint();
            await system.bulkInsert((async function* () {
              yield* pregenerated;
            })());
            reference.push(bytes / 1e6 / (Number(process.hrtime.bigint() - t0) / 1e9));
          },
        };
        const loadAsRunner = {
          ready: async () => {
            // The runner's own read-ahead bound (dataset.readAhead), as a run uses it.
            const feeder = await BatchFeeder.start(cell.dataset, cfg.batchBytes, { depth: Math.ceil(cfg.readAheadBytes / cfg.batchBytes) });
            return async () => {
              try {
                const m = await measured.bulkInsert(feeder);
                expect(m.bytes).toBe(bytes);
                waitShares.push(m.inputWaitNs / m.durationNs);
                runner.push(m.bytes / 1e6 / (m.durationNs / 1e9));
              } finally {
                await feeder.close();
              }
            };
          },
        };
        // ABBA quartets, each load from a reset and settled cell, so neither path always follows the other and a linear
        // drift cancels within a quartet. One short load varies by ±30 % on a 2-core machine, so the ratio is a paired
        // estimate with its own interval: quartets continue until the 95 % interval of the geometric-mean ratio is
        // within ±5 % (at least 4, at most 16 quartets). A dimensionless ratio of two loads in the same run, not a
        // wall-clock threshold.
        const logRatios: number[] = [];
        const halfWidth = () => tQuantile975(logRatios.length - 1) * sd(logRatios) / Math.sqrt(logRatios.length);
        while (logRatios.length < 4 || (logRatios.length < 16 && halfWidth() > Math.log(1.05))) {
          for (const load of [loadReference, loadAsRunner, loadAsRunner, loadReference]) {
            const go = await load.ready();
            await system.reset();
            if (name === "redis") await system.maintenance("bgrewriteaof");
            await system.settle();
            await go();
          }
          logRatios.push(Math.log((runner.at(-1)! + runner.at(-2)!) / (reference.at(-1)! + reference.at(-2)!)));
        }
        // A single short load can lose a few ms to a GC pause or the scheduler; the typical load barely waits for input.
        expect(median(waitShares), "the system barely waited for input").toBeLessThan(0.05);
        const ratio = Math.exp(mean(logRatios));
        const [lo, hi] = [Math.exp(mean(logRatios) - halfWidth()), Math.exp(mean(logRatios) + halfWidth())];
        console.log(
          `${name}: runner ${median(runner).toFixed(1)} MB/s, pre-generated ${median(reference).toFixed(1)} MB/s (medians of ${runner.length}); ` +
            `runner/pre-generated ${ratio.toFixed(3)} [95 % CI ${lo.toFixed(3)}–${hi.toFixed(3)}] over ${logRatios.length} ABBA quartets`,
        );
        // Fails when the data show the runner off by more than 10 %: the whole 95 % interval outside ±10 %. (A bound
        // on the point estimate alone failed about one run in ten at a true ratio of ~0.95 — a 0.1 s Redis load
        // moves by a GC pause; the defect this guards against was a 30–77 % effect.)
        expect(hi, `runner bulk MB/s ${ratio.toFixed(3)}× a pre-generated load, 95 % CI ${lo.toFixed(3)}–${hi.toFixed(3)}: slower by more than 10 %`).toBeGreaterThan(1 / 1.1);
        expect(lo, `runner bulk MB/s ${ratio.toFixed(3)}× a pre-generated load, 95 % CI ${lo.toFixed(3)}–${hi.toFixed(3)}: faster by more than 10 %`).toBeLessThan(1.1);
        expect(runner.length).toBe(reference.length);
      } finally {
        await system.cleanup(`${cell.key}t`); // this test's objects only: other runs may share the server
        await system.close();
        ds.close();
      }
    });
  }
});
