// Shard planning (issue 16): a deterministic assignment of cells to N shards that keeps every
// isolation domain (a server endpoint, a shared directory) in one shard and balances the
// estimated durations; hand-made assignments that split a domain are refused in one line;
// `--shard i/N` accepts only 1 ≤ i ≤ N.
import { beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../../lib/errors.js";
import { loadAndResolve, type RunConfig } from "../../lib/runner/config.js";
import { domainOf } from "../../lib/runner/lock.js";
import { cellEstimateSeconds, planRun, type RunPlan } from "../../lib/runner/plan.js";
import { assignShards, checkAssignment, parseShard, planShards, ShardConflict, shardCells, studyId, type ShardAssignment } from "../../lib/runner/shards.js";
import { mainInProcess } from "../helpers/cli-in-process.js";

// No connection is opened: planning reads the configuration only. postgres and cockroach name the
// same server endpoint, so they are one isolation domain (configuration decides what is shared).
const CA = "/etc/ssl/certs/ca-certificates.crt";
const RAW = {
  matrix: { systems: ["postgres", "cockroach", "redis", "mariadb", "sqlite", "duckdb", "directory"], payloads: ["random_binary", "text_document"], grades: ["U0", "U50", "U90"], repeats: 2 },
  dataset: { units: 50, unitSize: "16KiB" },
  systems: {
    postgres: { variants: ["default", "hash_index"], options: { host: "10.0.0.5", port: 5432, database: "lab", user: "lab", passwordEnv: "PGPW" } },
    cockroach: { options: { host: "10.0.0.5", port: 5432, database: "lab", user: "lab", passwordEnv: "PGPW", ssl: { mode: "verify-full", caFile: CA } } },
    redis: { variants: ["del", "unlink"], options: { host: "10.0.0.6", port: 6379, passwordEnv: "RPW" } },
    mariadb: { options: { host: "10.0.0.7", port: 3306, user: "lab", passwordEnv: "MPW" } },
  },
};

let cfg: RunConfig;
let plan: RunPlan;

beforeAll(async () => {
  cfg = await loadAndResolve(structuredClone(RAW));
  plan = planRun(cfg);
});

const domainCells = (p: RunPlan) => {
  const m = new Map<string, string[]>();
  for (const c of p.cells) {
    const d = domainOf(c.cell.system);
    if (d) m.set(d, [...(m.get(d) ?? []), c.cell.id]);
  }
  return m;
};

describe("assignShards", () => {
  it("is deterministic: the same configuration gives the same assignment, also resolved anew", async () => {
    const again = planRun(await loadAndResolve(structuredClone(RAW)));
    for (const n of [1, 2, 3, 4, 7]) expect(assignShards(again, n)).toEqual(assignShards(plan, n));
  });

  it("puts every cell in exactly one shard and keeps cells in matrix order", () => {
    const order = plan.cells.map((c) => c.cell.id);
    for (const n of [1, 2, 3, 5, 8, 60]) {
      const a = assignShards(plan, n);
      expect(a.shards).toHaveLength(n);
      const all = a.shards.flatMap((s) => s.cells);
      expect(new Set(all).size).toBe(all.length);
      expect([...all].sort()).toEqual([...order].sort());
      for (const s of a.shards) expect(s.cells).toEqual(order.filter((id) => s.cells.includes(id)));
    }
  });

  it("keeps every isolation domain whole in one shard (two systems on one endpoint share it)", () => {
    const domains = domainCells(plan);
    expect(domains.get("server 10.0.0.5:5432")!.some((id) => id.startsWith("cockroach."))).toBe(true);
    expect(domains.get("server 10.0.0.5:5432")!.some((id) => id.startsWith("postgres."))).toBe(true);
    expect(domains.size).toBe(3);
    for (const n of [2, 3, 4, 8]) {
      const a = assignShards(plan, n);
      for (const [d, ids] of domains) {
        const holders = a.shards.filter((s) => ids.some((id) => s.cells.includes(id)));
        expect(holders, `${d} at ${n} shards`).toHaveLength(1);
        expect(ids.every((id) => holders[0]!.cells.includes(id))).toBe(true);
        expect(holders[0]!.domains).toContain(d);
      }
      expect(() => checkAssignment(a, plan)).not.toThrow();
    }
  });

  it("balances estimated durations: longest minus shortest shard is at most the largest group (LPT), and embedded cells fill the gaps", () => {
    const domains = domainCells(plan);
    const est = new Map(plan.cells.map((c) => [c.cell.id, cellEstimateSeconds(c, plan.stages)]));
    const groupSeconds = [...domains.values()].map((ids) => ids.reduce((a, id) => a + est.get(id)!, 0));
    const largest = Math.max(...groupSeconds);
    for (const n of [2, 3, 4]) {
      const a = assignShards(plan, n);
      const loads = a.shards.map((s) => s.estimateSeconds);
      expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(largest + 1e-9);
      for (const s of a.shards) expect(s.estimateSeconds).toBeCloseTo(s.cells.reduce((x, id) => x + est.get(id)!, 0), 9);
      // Never worse than the biggest domain alone, or an even split of the total plus one group.
      expect(Math.max(...loads)).toBeLessThanOrEqual(Math.max(largest, plan.estimateSeconds / n + largest));
    }
    // Three server domains on three shards: one each; the embedded cells (≈ 92 s in all) go to the
    // lightest shard (mariadb's, ≈ 148 s below redis's), none to the longest (postgres + cockroach).
    const three = assignShards(plan, 3);
    expect(three.shards.map((s) => s.domains)).toEqual([["server 10.0.0.5:5432"], ["server 10.0.0.6:6379"], ["server 10.0.0.7:3306"]]);
    const pgShard = three.shards[0]!;
    expect(pgShard.estimateSeconds).toBeCloseTo(Math.max(...groupSeconds), 9);
    expect(pgShard.estimateSeconds).toBe(Math.max(...three.shards.map((s) => s.estimateSeconds)));
    expect(pgShard.cells.every((id) => /^(postgres|cockroach)\./.test(id))).toBe(true);
    expect(three.shards[2]!.cells.filter((id) => /^(sqlite|duckdb|directory)\./.test(id))).toHaveLength(36);
  });

  it("an embedded-only matrix spreads over all shards within one cell's estimate", async () => {
    const emb = planRun(await loadAndResolve({ matrix: { systems: ["sqlite", "duckdb", "directory"] }, dataset: { units: 20 } }));
    const a = assignShards(emb, 4);
    const loads = a.shards.map((s) => s.estimateSeconds);
    const one = Math.max(...emb.cells.map((c) => cellEstimateSeconds(c, emb.stages)));
    expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(one + 1e-9);
    expect(a.shards.every((s) => s.domains.length === 0 && s.cells.length > 0)).toBe(true);
  });

  it("more shards than groups leaves the surplus shards empty (they run nothing, their bundles merge fine)", () => {
    const a = assignShards(plan, plan.cells.length + 5);
    expect(a.shards.filter((s) => s.cells.length === 0).length).toBeGreaterThanOrEqual(5);
    expect(() => checkAssignment(a, plan)).not.toThrow();
  });

  it("shardCells and the study id follow the configuration (the seed changes the study)", async () => {
    const { assignment } = planShards(cfg, 3);
    expect([...shardCells(cfg, { index: 2, count: 3 })]).toEqual(assignment.shards[1]!.cells);
    expect(studyId(cfg)).toBe(studyId(await loadAndResolve(structuredClone(RAW))));
    expect(studyId(cfg)).not.toBe(studyId(await loadAndResolve(structuredClone(RAW), { seed: "2" })));
  });
});

describe("checkAssignment refuses a conflicting assignment with one line", () => {
  const oneLine = (f: () => void): string => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(ShardConflict);
      expect(e).toBeInstanceOf(UsageError);
      const m = (e as Error).message;
      expect(m.split("\n")).toHaveLength(1);
      return m;
    }
    throw new Error("not refused");
  };

  it("two shards on one domain (postgres's cells split between shards 1 and 2)", () => {
    const ids = plan.cells.map((c) => c.cell.id);
    const pg = ids.filter((id) => id.startsWith("postgres."));
    const handMade: ShardAssignment = {
      count: 2,
      shards: [
        { index: 1, cells: ids.filter((id) => id !== pg[0]), domains: [], estimateSeconds: 0 },
        { index: 2, cells: [pg[0]!], domains: [], estimateSeconds: 0 },
      ],
    };
    expect(oneLine(() => checkAssignment(handMade, plan))).toBe(
      "conflicting shard assignment: server 10.0.0.5:5432 is in shards 1 and 2 — the cells of one isolation domain must all run serially in one shard",
    );
  });

  it("cockroach and postgres on one endpoint may not be split either", () => {
    const ids = plan.cells.map((c) => c.cell.id);
    const crdb = ids.filter((id) => id.startsWith("cockroach."));
    const a: ShardAssignment = { count: 2, shards: [{ index: 1, cells: ids.filter((id) => !crdb.includes(id)), domains: [], estimateSeconds: 0 }, { index: 2, cells: crdb, domains: [], estimateSeconds: 0 }] };
    expect(oneLine(() => checkAssignment(a, plan))).toMatch(/^conflicting shard assignment: server 10\.0\.0\.5:5432 is in shards 1 and 2/);
  });

  it("cells doubled, left out or unknown", () => {
    const ids = plan.cells.map((c) => c.cell.id);
    const shard = (index: number, cells: string[]) => ({ index, cells, domains: [], estimateSeconds: 0 });
    expect(oneLine(() => checkAssignment({ count: 2, shards: [shard(1, ids), shard(2, [ids.at(-1)!])] }, plan))).toMatch(/^shard assignment puts cells in two shards: .*\(shards 1 and 2\)/);
    expect(oneLine(() => checkAssignment({ count: 1, shards: [shard(1, ids.slice(1))] }, plan))).toBe(`shard assignment leaves cells out: ${ids[0]} — every cell belongs to exactly one shard`);
    expect(oneLine(() => checkAssignment({ count: 1, shards: [shard(1, [...ids, "nosuch.cell"])] }, plan))).toMatch(/^shard assignment names cells that are not in the plan: nosuch\.cell/);
  });
});

describe("--shard i/N", () => {
  it("accepts 1 ≤ i ≤ N", () => {
    expect(parseShard("2/4")).toEqual({ index: 2, count: 4 });
    expect(parseShard("1/1")).toEqual({ index: 1, count: 1 });
    expect(parseShard("4/4")).toEqual({ index: 4, count: 4 });
  });

  it.each(["0/4", "5/4", "x", "", "1/0", "-1/4", "1.5/4", "2/", "/4", "1/4/2", "2 of 4"])("refuses %j in one line", (v) => {
    expect(() => parseShard(v)).toThrow(UsageError);
    expect(() => parseShard(v)).toThrow(new RegExp(`^--shard must be i/N with 1 ≤ i ≤ N ≤ \\d+ \\(got "${v.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}"\\) — pass e\\.g\\. --shard 2/4`));
  });

  it.each([["0/4"], ["5/4"], ["x"]])("run --shard %s: exit 2, one line on stderr, nothing on stdout", async (v) => {
    const r = await mainInProcess(["run", "--dry-run", "--shard", v]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`dedup-lab: --shard must be i/N with 1 ≤ i ≤ N ≤ 10000 (got "${v}") — pass e.g. --shard 2/4 for the second of four shards\n`);
  });

  it("plan --shards N prints the same assignment every time; run --dry-run --shard i/N plans exactly shard i", async () => {
    const a = await mainInProcess(["plan", "--shards", "2", "--units", "10"]);
    const b = await mainInProcess(["plan", "--shards", "2", "--units", "10"]);
    expect(a.status, a.stderr).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout).toMatch(/^shard 1\/2: \d+ cells/m);
    const json = await mainInProcess(["plan", "--shards", "2", "--units", "10", "--json"]);
    const parsed = JSON.parse(json.stdout) as { shards: { shard: string; cells: string[] }[] };
    expect(parsed.shards.map((s) => s.shard)).toEqual(["1/2", "2/2"]);
    const dry = await mainInProcess(["run", "--dry-run", "--shard", "2/2", "--units", "10"]);
    expect(dry.status, dry.stderr).toBe(0);
    const planned = [...dry.stdout.matchAll(/^ {2}(\S+)\s/gm)].map((m) => m[1]);
    expect(planned).toEqual(parsed.shards[1]!.cells);
    const bad = await mainInProcess(["plan", "--shards", "0"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
  });
});
