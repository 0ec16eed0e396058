// Shard planning: the matrix split into N shards that may run at the same time (on N machines
// or N Kubernetes pods) without spoiling each other's measurements.
//
// The rule is the isolation domain (lock.ts: a server endpoint, or a shared directory): two
// cells of one domain running at once corrupt each other's size deltas and latencies, so every
// cell of a domain goes to ONE shard and runs there serially. Embedded cells without a domain
// (SQLite, DuckDB, a directory without `root`) share nothing and are placed one by one.
// Which systems share a domain is configuration: two systems on one endpoint share it.
//
// The assignment is longest-processing-time-first over these groups, by the plan's duration
// estimate: the longest group goes to the least loaded shard (ties: the lower shard index), the
// groups in order of estimate, then key. It depends on the configuration alone, so every shard
// computes the same assignment independently (a Kubernetes Indexed Job needs no coordinator).
import { UsageError } from "../errors.js";
import type { RunConfig } from "./config.js";
import { domainOf } from "./lock.js";
import { configFingerprint } from "./matrix.js";
import { cellEstimateSeconds, planRun, type RunPlan } from "./plan.js";

/** One shard of a study, 1-based like Playwright's and vitest's --shard: index 2 of count 4 is "2/4". */
export interface ShardSpec {
  index: number;
  count: number;
}

export const MAX_SHARDS = 10_000;

export function formatShard(s: ShardSpec): string {
  return `${s.index}/${s.count}`;
}

/** `--shard i/N` (1 ≤ i ≤ N): anything else is one line and exit 2. */
export function parseShard(text: string): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const [index, count] = m ? [Number(m[1]), Number(m[2])] : [Number.NaN, Number.NaN];
  if (!(count >= 1 && count <= MAX_SHARDS && index >= 1 && index <= count)) {
    throw new UsageError(`--shard must be i/N with 1 ≤ i ≤ N ≤ ${MAX_SHARDS} (got "${text}")`, "pass e.g. --shard 2/4 for the second of four shards");
  }
  return { index, count };
}

/** What shards of one study share: derived from the configuration fingerprint (which includes the seed). */
export function studyId(cfg: RunConfig): string {
  return `study-${configFingerprint(cfg)}`;
}

export interface Shard {
  /** 1-based. */
  index: number;
  /** Cell ids in matrix order: the order a serial run would run them in. */
  cells: string[];
  /** The isolation domains this shard holds (sorted); no other shard has any of them. */
  domains: string[];
  estimateSeconds: number;
}

export interface ShardAssignment {
  count: number;
  shards: Shard[];
}

/** The group a cell is placed with: its domain, or the cell alone when it has none. */
function groupKey(domain: string | null, cellId: string): string {
  return domain ?? `cell ${cellId}`;
}

/** Deterministic, domain-respecting, duration-balanced assignment of the plan's cells to `count` shards. */
export function assignShards(plan: RunPlan, count: number): ShardAssignment {
  if (!Number.isInteger(count) || count < 1 || count > MAX_SHARDS) {
    throw new UsageError(`--shards must be a whole number from 1 to ${MAX_SHARDS} (got "${count}")`, "pass --shards 4");
  }
  const groups = new Map<string, { key: string; domain: string | null; cells: string[]; seconds: number }>();
  for (const c of plan.cells) {
    const domain = domainOf(c.cell.system);
    const key = groupKey(domain, c.cell.id);
    const g = groups.get(key) ?? { key, domain, cells: [], seconds: 0 };
    g.cells.push(c.cell.id);
    g.seconds += cellEstimateSeconds(c, plan.stages);
    groups.set(key, g);
  }
  const order = [...groups.values()].sort((a, b) => b.seconds - a.seconds || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const shards: Shard[] = Array.from({ length: count }, (_, i) => ({ index: i + 1, cells: [], domains: [], estimateSeconds: 0 }));
  const owner = new Map<string, number>();
  for (const g of order) {
    let best = shards[0]!;
    for (const s of shards) if (s.estimateSeconds < best.estimateSeconds) best = s; // first minimum: the lowest index
    best.estimateSeconds += g.seconds;
    if (g.domain) best.domains.push(g.domain);
    for (const id of g.cells) owner.set(id, best.index);
  }
  // Cells in matrix order within each shard (what a serial run does, restricted to the shard).
  for (const c of plan.cells) shards[owner.get(c.cell.id)! - 1]!.cells.push(c.cell.id);
  for (const s of shards) s.domains.sort();
  return { count, shards };
}

/** An assignment that breaks the rules: two shards on one domain, or cells missing, doubled or unknown. */
export class ShardConflict extends UsageError {
  override name = "ShardConflict";
}

const listed = (xs: string[], max = 5) => xs.slice(0, max).join(", ") + (xs.length > max ? `, … (${xs.length} in all)` : "");

/**
 * Check an assignment (e.g. a hand-made one) against the plan: every cell in exactly one shard,
 * and every isolation domain in one shard only. Throws one line naming the first problem.
 */
export function checkAssignment(a: ShardAssignment, plan: RunPlan): void {
  const byId = new Map(plan.cells.map((c) => [c.cell.id, c]));
  const seen = new Map<string, number>();
  const unknown: string[] = [];
  const doubled: string[] = [];
  const domainShards = new Map<string, Set<number>>();
  for (const s of a.shards) {
    for (const id of s.cells) {
      const c = byId.get(id);
      if (!c) {
        unknown.push(id);
        continue;
      }
      if (seen.has(id)) doubled.push(`${id} (shards ${seen.get(id)} and ${s.index})`);
      else seen.set(id, s.index);
      const d = domainOf(c.cell.system);
      if (d) domainShards.set(d, (domainShards.get(d) ?? new Set()).add(s.index));
    }
  }
  if (unknown.length) throw new ShardConflict(`shard assignment names cells that are not in the plan: ${listed(unknown)}`, "plan the shards from the same configuration");
  if (doubled.length) throw new ShardConflict(`shard assignment puts cells in two shards: ${listed(doubled)}`, "every cell belongs to exactly one shard");
  const missing = plan.cells.map((c) => c.cell.id).filter((id) => !seen.has(id));
  if (missing.length) throw new ShardConflict(`shard assignment leaves cells out: ${listed(missing)}`, "every cell belongs to exactly one shard");
  for (const [d, shards] of [...domainShards].sort(([x], [y]) => (x < y ? -1 : 1))) {
    if (shards.size > 1) {
      throw new ShardConflict(
        `conflicting shard assignment: ${d} is in shards ${[...shards].sort((x, y) => x - y).join(" and ")}`,
        "the cells of one isolation domain must all run serially in one shard",
      );
    }
  }
}

/** The assignment for a configuration, checked. */
export function planShards(cfg: RunConfig, count: number): { plan: RunPlan; assignment: ShardAssignment } {
  const plan = planRun(cfg);
  const assignment = assignShards(plan, count);
  checkAssignment(assignment, plan);
  return { plan, assignment };
}

/** The cell ids of one shard. */
export function shardCells(cfg: RunConfig, shard: ShardSpec): Set<string> {
  return new Set(planShards(cfg, shard.count).assignment.shards[shard.index - 1]!.cells);
}

function duration(seconds: number): string {
  return seconds >= 3600 ? `${(seconds / 3600).toFixed(1)} h` : seconds >= 60 ? `${(seconds / 60).toFixed(1)} min` : `${seconds.toFixed(0)} s`;
}

export function formatShardPlan(cfg: RunConfig, plan: RunPlan, a: ShardAssignment): string {
  const longest = Math.max(...a.shards.map((s) => s.estimateSeconds));
  const lines = [
    `dry run — nothing was opened or written`,
    `study ${studyId(cfg)}: ${plan.cells.length} cells in ${a.count} shard${a.count === 1 ? "" : "s"}; the cells of one isolation domain run serially in one shard`,
  ];
  // Which systems share each domain (configuration: two systems on one endpoint share it).
  const systemsOf = new Map<string, Set<string>>();
  for (const c of plan.cells) {
    const d = domainOf(c.cell.system);
    if (d) systemsOf.set(d, (systemsOf.get(d) ?? new Set()).add(c.cell.system.name));
  }
  const named = (d: string) => `${d} (${[...systemsOf.get(d)!].join(", ")})`;
  for (const s of a.shards) {
    lines.push(`shard ${s.index}/${a.count}: ${s.cells.length} cells, ≈ ${duration(s.estimateSeconds)}; domains: ${s.domains.length ? s.domains.map(named).join(", ") : "none (embedded cells only)"}${s.cells.length ? "" : " — nothing to run"}`);
    for (const id of s.cells) lines.push(`  ${id}`);
  }
  lines.push(
    `rough duration: serial ${duration(plan.estimateSeconds)}, longest shard ${duration(longest)}${longest > 0 ? ` (×${(plan.estimateSeconds / longest).toFixed(1)})` : ""} (estimates, not promises)`,
    `run each with: dedup-lab run --shard i/${a.count} (same configuration) — then: dedup-lab merge BUNDLE… --out DIR`,
  );
  return lines.join("\n");
}

export function shardPlanJson(cfg: RunConfig, plan: RunPlan, a: ShardAssignment): unknown {
  return {
    study_id: studyId(cfg),
    config_fingerprint: configFingerprint(cfg),
    cells: plan.cells.length,
    estimate_seconds: plan.estimateSeconds,
    shards: a.shards.map((s) => ({ shard: formatShard({ index: s.index, count: a.count }), cells: s.cells, domains: s.domains, estimate_seconds: s.estimateSeconds })),
  };
}
