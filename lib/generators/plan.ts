// The duplication planner: exact counts, seeded order, declared copy policy.
//
// For n items (units, or blocks at block granularity) and duplicate fraction d:
//   duplicates = round(d·n), uniques = n − duplicates (must be ≥ 1).
// Policy `uniform` (default): each duplicate copies a unique drawn uniformly with
// replacement; `round_robin`: duplicate k copies unique k mod uniques (equal group sizes).
// The multiset is then shuffled (Fisher–Yates, xoshiro128**) and groups are numbered by
// first appearance, so the first item of every group is its original and every other
// item is byte-identical to an item written earlier. Memory: 4 bytes per item.
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

export function planDuplicates(items: number, fraction: number, policy: CopyPolicy, seed: Buffer): DuplicationPlan {
  if (!Number.isInteger(items) || items < 1) throw new UsageError(`number of units must be ≥ 1 (got ${items})`, "pass --units 100 or more");
  const duplicates = Math.round(fraction * items);
  const uniques = items - duplicates;
  if (uniques < 1) {
    throw new UsageError(
      `duplicate fraction ${fraction} leaves no unique unit among ${items}`,
      `use at least ${Math.ceil(1 / (1 - fraction))} units for this grade`,
    );
  }
  const rng = new Xoshiro128ss(seedFrom(seed.toString("hex"), "plan", policy));
  const raw = new Uint32Array(items);
  for (let u = 0; u < uniques; u++) raw[u] = u;
  for (let k = 0; k < duplicates; k++) raw[uniques + k] = policy === "uniform" ? rng.int(uniques) : k % uniques;
  for (let i = items - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = raw[i]!;
    raw[i] = raw[j]!;
    raw[j] = t;
  }
  // Renumber by first appearance so group g's original is the g-th original in order.
  const relabel = new Int32Array(uniques).fill(-1);
  const group = new Uint32Array(items);
  let next = 0;
  for (let i = 0; i < items; i++) {
    const r = raw[i]!;
    if (relabel[r] === -1) relabel[r] = next++;
    group[i] = relabel[r]!;
  }
  // Item i is original iff its group number equals the count of originals before it.
  const originalMask = new Uint8Array(items);
  let seen = 0;
  for (let i = 0; i < items; i++) if (group[i] === seen) (originalMask[i] = 1), seen++;
  return {
    items,
    uniques,
    duplicates,
    requestedFraction: fraction,
    realizedFraction: duplicates / items,
    policy,
    group,
    isOriginal: (i) => originalMask[i] === 1,
  };
}
