// Where did the reduction happen? The reduction factor at each layer boundary, per
// configuration × stage, over repeats — from the runner's `stored_bytes` rows (what the stored
// dataset occupies at L0–L3 at the end of a stage, net of the empty cell; L3 per storage
// replica, so replication is divided out):
//
//   L0→L1 = stored(L0) / stored(L1)     L1→L2 = stored(L1) / stored(L2)
//   L2→L3 = stored(L2) / stored(L3)     L0→L3 = stored(L0) / stored(L3)  (= EDR per replica)
//
// A factor > 1 is reduction at that boundary, < 1 inflation (overhead). A boundary whose
// operand is missing, invalid (it carries a reason) or ≤ 0 has no factor (null with the reason,
// never 0). Factors are computed PER REPEAT (one cell) and then aggregated over repeats by the
// one path (repeats.ts overRepeats: geometric mean and 95 % t interval on the log scale), exactly
// as the EDR table does; rows are filtered by the one validity rule (cells.ts isUsable).
import * as aq from "arquero";
import type { Table } from "apache-arrow";
import { isUsable } from "./cells.js";
import { CONFIG_DIMS, frame, type ConfigFields, type Frame } from "./frames.js";
import { overRepeats, REPEAT_COLUMNS } from "./repeats.js";

export const BOUNDARIES = ["L0→L1", "L1→L2", "L2→L3", "L0→L3"] as const;
export type Boundary = (typeof BOUNDARIES)[number];
/** The adjacent boundaries: the candidates for "where" (L0→L3 is their product). */
export const STEP_BOUNDARIES = ["L0→L1", "L1→L2", "L2→L3"] as const satisfies readonly Boundary[];

const OPERANDS: Record<Boundary, [string, string]> = {
  "L0→L1": ["L0", "L1"],
  "L1→L2": ["L1", "L2"],
  "L2→L3": ["L2", "L3"],
  "L0→L3": ["L0", "L3"],
};

/** Boundary labels for figures and tables: what each boundary is in a storage stack. */
export const BOUNDARY_LABELS: Record<Boundary, string> = {
  "L0→L1": "L0→L1 (written → DB-logical)",
  "L1→L2": "L1→L2 (DB-logical → DB-physical)",
  "L2→L3": "L2→L3 (DB-physical → storage)",
  "L0→L3": "L0→L3 (total, per replica)",
};

/**
 * The where-rule threshold: a boundary "reduced" when its factor (geometric mean over repeats)
 * is at least 1.2, i.e. it removed ≥ 1/6 of the bytes that reached it. Below that, differences
 * are engine overhead, page slack and metadata (SQLite/DuckDB pages, file-system blocks) and
 * would name a "winner" for data that nothing reduced (random_binary U0).
 */
export const WHERE_THRESHOLD = 1.2;

export type Where = (typeof STEP_BOUNDARIES)[number] | "nowhere";

export interface ReductionRow extends ConfigFields {
  stage: string;
  boundary: Boundary;
  /** Repeats that gave a factor, and the repeat statistics of repeats.ts (log scale). */
  n: number;
  mean: number;
  sd: number;
  ci95: number;
  center: number;
  lower: number;
  upper: number;
  scale: string;
  /** Ideal ratio (logical / unique bytes, manifest) of the dataset: the insert stage's `ideal_ratio`. */
  ideal: number;
  /** Repeats without a factor at this boundary (missing, invalid or ≤ 0 operand). */
  excluded: number;
  /** Why those repeats have no factor (distinct reasons, "; "-joined); "" when none. */
  reason: string;
  /** The boundary of this configuration × stage where the dominant reduction happened (whereReduced), or null. */
  where: Where | null;
}

interface StoredRow {
  run_id: string;
  cell_id: string;
  repeat: number;
  stage: string;
  layer: string;
  metric: string;
  value: number | null;
  valid: boolean | null;
  reason: string | null;
  [dim: string]: unknown;
}

const KEYS = [...CONFIG_DIMS, "stage"];

/**
 * The reduction factor at one boundary of one repeat: `{ value }` or `{ value: null, reason }`.
 * `stored` maps a layer to its stored_bytes row (value, valid, reason) of that cell × stage.
 */
export function boundaryFactor(
  boundary: Boundary,
  stored: Partial<Record<string, { value: number | null; valid: boolean | null; reason?: string | null }>>,
): { value: number | null; reason: string } {
  const [a, b] = OPERANDS[boundary];
  const reasons: string[] = [];
  for (const layer of [a, b]) {
    const r = stored[layer];
    if (!r) reasons.push(`no ${layer} stored_bytes reading`);
    else if (!isUsable(r)) reasons.push(r.reason ? `${layer}: ${r.reason}` : `${layer}: no valid value`);
    else if (r.value! <= 0) reasons.push(`${layer} stored ${r.value} B (≤ 0)`);
  }
  if (reasons.length) return { value: null, reason: reasons.join("; ") };
  return { value: stored[a]!.value! / stored[b]!.value!, reason: "" };
}

/**
 * Where the dominant reduction happened, from the factors of the adjacent boundaries: the
 * boundary with the largest factor if that factor is ≥ WHERE_THRESHOLD (1.2); "nowhere" when
 * every known factor is below it; null when no adjacent boundary has a factor. The total
 * L0→L3 is ignored (it is the product). Ties go to the lower boundary.
 */
export function whereReduced(factors: Partial<Record<Boundary, number | null | undefined>>, threshold = WHERE_THRESHOLD): Where | null {
  let best: Where | null = null;
  let bestValue = -Infinity;
  let known = false;
  for (const b of STEP_BOUNDARIES) {
    const v = factors[b];
    if (v === null || v === undefined || !Number.isFinite(v)) continue;
    known = true;
    if (v > bestValue) {
      best = b;
      bestValue = v;
    }
  }
  if (!known) return null;
  return bestValue >= threshold ? best : "nowhere";
}

function storageProfiles(f: Frame): Map<string, string> {
  // Optional: a `storage_profile` column, or a `storage_profile` row whose `unit` names the profile.
  const out = new Map<string, string>();
  const cols = f.columnNames();
  const rows = f.objects() as Record<string, unknown>[];
  for (const r of rows) {
    const key = JSON.stringify(CONFIG_DIMS.map((d) => r[d]));
    if (out.has(key)) continue;
    const col = cols.includes("storage_profile") ? r.storage_profile : undefined;
    const fromRow = r.metric === "storage_profile" ? r.unit : undefined;
    const p = typeof col === "string" && col ? col : typeof fromRow === "string" && fromRow ? fromRow : "";
    if (p) out.set(key, p);
  }
  return out;
}

const EMPTY_COLUMNS = [...KEYS, "boundary", ...REPEAT_COLUMNS, "ideal", "excluded", "reason", "where", "storage_profile"];

/**
 * Reduction factor per configuration × stage × boundary over repeats (ReductionRow): per-repeat
 * factors from `stored_bytes`, aggregated by repeats.ts overRepeats on the log scale; boundaries
 * without any factor keep a row with n = 0 and the reason; `where` per configuration × stage.
 */
export function reductionTable(results: Table | Frame): Frame {
  const f = frame(results);
  const stored = f.filter(aq.escape((d: { metric: string }) => d.metric === "stored_bytes"));
  if (stored.numRows() === 0) return aq.table(Object.fromEntries(EMPTY_COLUMNS.map((k) => [k, []])));
  // One group per cell × stage (= one repeat of a configuration × stage).
  const cells = new Map<string, { dims: Record<string, unknown>; layers: Record<string, StoredRow> }>();
  for (const r of stored.objects() as StoredRow[]) {
    const k = `${r.run_id}\u0000${r.cell_id}\u0000${r.stage}`;
    let c = cells.get(k);
    if (!c) {
      c = { dims: { ...Object.fromEntries(KEYS.map((d) => [d, r[d]])), run_id: r.run_id, repeat: r.repeat }, layers: {} };
      cells.set(k, c);
    }
    if (r.layer === "L3" && r.replica !== undefined && r.replica !== "per_replica" && r.replica !== "") continue;
    c.layers[r.layer] = r;
  }
  const perRepeat: Record<string, unknown>[] = [];
  for (const c of cells.values()) {
    for (const boundary of BOUNDARIES) {
      const { value, reason } = boundaryFactor(boundary, c.layers);
      perRepeat.push({ ...c.dims, boundary, value, reason });
    }
  }
  const factors = aq.from(perRepeat);
  const usable = factors.filter(aq.escape((d: { value: number | null }) => d.value !== null));
  const stats = overRepeats(usable, [...KEYS, "boundary"], "value", { positive: true });
  const statsByKey = new Map<string, Record<string, unknown>>();
  for (const r of stats.objects() as Record<string, unknown>[]) statsByKey.set(JSON.stringify([...KEYS, "boundary"].map((k) => r[k])), r);
  // Ideal ratio of each configuration: the insert stage's ideal_ratio (maintenance rows have none).
  const ideal = overRepeats(
    f.filter(aq.escape((d: { metric: string; valid: boolean | null; value: number | null }) => d.metric === "ideal_ratio" && isUsable(d))),
    [...CONFIG_DIMS],
  );
  const idealByKey = new Map<string, number>();
  for (const r of ideal.objects() as Record<string, unknown>[]) idealByKey.set(JSON.stringify(CONFIG_DIMS.map((d) => r[d])), r.mean as number);
  const profiles = storageProfiles(f);
  // Every configuration × stage × boundary that has a repeat: its stats, or n = 0 with the reason.
  const groups = new Map<string, { key: Record<string, unknown>; reasons: string[]; excluded: number }>();
  for (const r of perRepeat) {
    const id = JSON.stringify([...KEYS, "boundary"].map((k) => r[k]));
    let g = groups.get(id);
    if (!g) {
      g = { key: Object.fromEntries([...KEYS, "boundary"].map((k) => [k, r[k]])), reasons: [], excluded: 0 };
      groups.set(id, g);
    }
    if (r.value === null) {
      g.excluded++;
      if (!g.reasons.includes(r.reason as string)) g.reasons.push(r.reason as string);
    }
  }
  const rows: Record<string, unknown>[] = [];
  for (const [id, g] of groups) {
    const s = statsByKey.get(id);
    const cfg = JSON.stringify(CONFIG_DIMS.map((d) => g.key[d]));
    rows.push({
      ...g.key,
      ...(s ? Object.fromEntries(REPEAT_COLUMNS.map((c) => [c, s[c]])) : { n: 0, mean: NaN, sd: NaN, ci95: NaN, center: NaN, lower: NaN, upper: NaN, scale: "log" }),
      ideal: idealByKey.get(cfg) ?? NaN,
      excluded: g.excluded,
      reason: g.reasons.join("; "),
      storage_profile: profiles.get(cfg) ?? "",
    });
  }
  // The where-rule per configuration × stage, on the geometric means.
  const byCell = new Map<string, Record<string, unknown>[]>();
  for (const r of rows) {
    const k = JSON.stringify(KEYS.map((d) => r[d]));
    (byCell.get(k) ?? byCell.set(k, []).get(k)!).push(r);
  }
  for (const rs of byCell.values()) {
    const where = whereReduced(Object.fromEntries(rs.filter((r) => (r.n as number) > 0).map((r) => [r.boundary, r.center as number])));
    for (const r of rs) r.where = where;
  }
  return aq.from(rows);
}
