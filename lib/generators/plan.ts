// The duplication planner: exact counts, seeded order, declared copy policy.
//
// For n items (units, or blocks at block granularity) and duplicate fraction d:
//   duplicates = round(d·n), uniques = n − duplicates (must be ≥ 1).
// Policy `uniform` (default): each duplicate copies a unique drawn uniformly with
// replacement; `round_robin`: duplicate k copies unique k mod uniques (equal group sizes).
// The multiset is then shuffled (Fisher–Yates, xoshiro128**) and groups are numbered by
// first appearance, so the first item of every group is its original and every other
// item is byte-identical to an item written earlier. Memory: about 4 bytes per item (plus
// 4 per unique); plannedTotals gives the same counts in closed form for dry runs.
import { UsageError } from "../errors.js";
import { Xoshiro128ss, seedFrom } from "./prng.js";

export const COPY_POLICIES = ["uniform", "round_robin"] as const;
export type CopyPolicy = (typeof COPY_POLICIES)[number];

export const GRADE_PRESETS: Record<string, number> = { U0: 0, U50: 0.5, U90: 0.9, U95: 0.95, U99: 0.99 };

/** "U90", "0.9", "90%" → 0.9. Any value in [0, 1). */
export function parseGrade(text: string | number): number {
  const t = String(text).trim();
  const preset = GRADE_PRESETS[t.toUpperCase()];
  let value = preset ?? (t.endsWith("%") ? Number(t.slice(0, -1)) / 100 : Number(t));
  if (t === "" || !Number.isFinite(value)) {
    throw new UsageError(`unknown grade "${text}"`, `use ${Object.keys(GRADE_PRESETS).join(", ")} or a fraction in [0, 1) like 0.9 or 90%`);
  }
  if (value < 0 || value >= 1) {
    throw new UsageError(`duplicate fraction ${value} is outside [0, 1)`, "use a value like 0, 0.5, 0.9 or 0.99");
  }
  value = Math.round(value * 1e9) / 1e9;
  return value;
}

/** Label for a fraction: the preset name where one matches, else U<percent>. */
export function gradeLabel(fraction: number): string {
  for (const [name, v] of Object.entries(GRADE_PRESETS)) if (v === fraction) return name;
  return `U${+(fraction * 100).toFixed(4)}`;
}

export interface DuplicationPlan {
  items: number;
  uniques: number;
  duplicates: number;
  requestedFraction: number;
  realizedFraction: number;
  policy: CopyPolicy;
  /** group[i] = group of item i; groups are numbered by first appearance. */
  group: Uint32Array;
  /** True where item i is the first of its group (an original). */
  isOriginal(i: number): boolean;
}

/** Exact counts for n items at fraction d: duplicates = round(d·n), uniques = n − duplicates (≥ 1, else a one-line error). */
export function duplicateCounts(items: number, fraction: number): { uniques: number; duplicates: number } {
  if (!Number.isInteger(items) || items < 1) throw new UsageError(`number of units must be ≥ 1 (got ${items})`, "pass --units 100 or more");
  const duplicates = Math.round(fraction * items);
  const uniques = items - duplicates;
  if (uniques < 1) {
    throw new UsageError(
      `duplicate fraction ${fraction} leaves no unique unit among ${items}`,
      `use at least ${Math.ceil(1 / (1 - fraction))} units for this grade`,
    );
  }
  return { uniques, duplicates };
}

export function planDuplicates(items: number, fraction: number, policy: CopyPolicy, seed: Buffer): DuplicationPlan {
  const { uniques, duplicates } = duplicateCounts(items, fraction);
  const rng = new Xoshiro128ss(seedFrom(seed.toString("hex"), "plan", policy));
  const group = new Uint32Array(items);
  for (let u = 0; u < uniques; u++) group[u] = u;
  for (let k = 0; k < duplicates; k++) group[uniques + k] = policy === "uniform" ? rng.int(uniques) : k % uniques;
  for (let i = items - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = group[i]!;
    group[i] = group[j]!;
    group[j] = t;
  }
  // Renumber by first appearance (in place) so group g's original is the g-th original in order;
  // item i is an original iff it is the first of its group (one bit per item).
  const relabel = new Int32Array(uniques).fill(-1);
  const originalBits = new Uint8Array(Math.ceil(items / 8));
  let next = 0;
  for (let i = 0; i < items; i++) {
    const r = group[i]!;
    if (relabel[r] === -1) {
      relabel[r] = next++;
      originalBits[i >> 3]! |= 1 << (i & 7);
    }
    group[i] = relabel[r]!;
  }
  return {
    items,
    uniques,
    duplicates,
    requestedFraction: fraction,
    realizedFraction: duplicates / items,
    policy,
    group,
    isOriginal: (i) => (originalBits[i >> 3]! & (1 << (i & 7))) !== 0,
  };
}

/** A dataset's totals as planned from its spec alone: O(1) time and memory, whatever the number of units. */
export interface PlannedTotals {
  items: number;
  uniques: number;
  duplicates: number;
  logicalBytes: number;
  uniqueBytes: number;
  /** logical / unique. */
  dedupRatio: number;
  /** True for a fixed unit size; for a size range the bytes are expected values (sizes are drawn uniformly). */
  exact: boolean;
}

export interface PlannedSpec {
  units: number;
  size: { min: number; max: number };
  fraction: number;
  granularity: "file" | "block";
  blockSize: number;
}

/**
 * Closed-form totals of a synthetic dataset (a planner that never materialises per-unit arrays;
 * the generator's Dataset computes the same totals exactly, unit by unit). File granularity:
 * every unit has a size drawn uniformly from [min, max], mean (min+max)/2. Block granularity:
 * a unit is floor(size / B) blocks, so items = units × E[floor(size / B)].
 */
export function plannedTotals(spec: PlannedSpec): PlannedTotals {
  const { min, max } = spec.size;
  const exact = min === max;
  if (spec.granularity === "file") {
    const { uniques, duplicates } = duplicateCounts(spec.units, spec.fraction);
    const mean = (min + max) / 2;
    return { items: spec.units, uniques, duplicates, logicalBytes: spec.units * mean, uniqueBytes: uniques * mean, dedupRatio: spec.units / uniques, exact };
  }
  const b = spec.blockSize;
  if (min % b !== 0 || max % b !== 0) {
    throw new UsageError(`unit size ${min}..${max} is not a multiple of the ${b} B block size`, "choose a unit size that is a multiple of --block-size");
  }
  // Sizes uniform on the integers [a·B, c·B]: floor(size/B) = k for B sizes each (k = a … c−1) and c once.
  const a = min / b;
  const c = max / b;
  const meanBlocks = exact ? a : (b * ((c - a) * (a + c - 1)) / 2 + c) / ((c - a) * b + 1);
  const items = exact ? spec.units * a : Math.round(spec.units * meanBlocks);
  const { uniques, duplicates } = duplicateCounts(items, spec.fraction);
  const logicalBytes = items * b;
  return { items, uniques, duplicates, logicalBytes, uniqueBytes: uniques * b, dedupRatio: logicalBytes / (uniques * b), exact };
}
