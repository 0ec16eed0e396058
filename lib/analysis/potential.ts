// Measured vs potential: the reduction each layer boundary achieved (reduction.ts, from
// stored_bytes, per repeat, aggregated on the log scale) next to what the dataset's bytes allow
// (the runner's L0 `potential_*` rows, lib/metrics/potential.ts): the unit-level ideal, fixed-
// block and content-defined (FastCDC 2020) dedup ratios, compression of the distinct data and
// dedup followed by compression. Potentials are properties of the dataset (identical in every
// repeat and every system of a configuration); their mean over the usable rows is taken.
import * as aq from "arquero";
import type { Table } from "apache-arrow";
import { isUsable } from "./cells.js";
import { CONFIG_DIMS, frame, type ConfigFields, type Frame } from "./frames.js";
import { BOUNDARIES, reductionTable, type ReductionRow } from "./reduction.js";

export interface PotentialQuantity {
  /** Result metric (L0 row of the runner). */
  metric: string;
  /** Short label for figures and tables. */
  label: string;
  /** What the ratio is a ratio of. */
  note: string;
}

const KIB = [4, 8, 16, 64, 128];
const CDC_KIB = [4, 8, 16, 64];
const CODECS = ["zstd-3", "zstd-19", "lz4", "gzip-6"];

/** Every potential the runner records, in table order. */
export const POTENTIAL_QUANTITIES: PotentialQuantity[] = [
  { metric: "potential_unit_ratio", label: "unit (ideal)", note: "logical / distinct units' bytes" },
  ...KIB.map((k) => ({ metric: `potential_fixed_ratio_${k}KiB`, label: `fixed ${k} KiB`, note: `logical / distinct ${k} KiB blocks` })),
  ...CDC_KIB.map((k) => ({ metric: `potential_cdc_ratio_${k}KiB`, label: `CDC ${k} KiB`, note: `logical / distinct FastCDC chunks, average ${k} KiB` })),
  ...CODECS.map((c) => ({ metric: `potential_compress_ratio_${c}`, label: c, note: `distinct data / ${c} of it` })),
  ...CODECS.map((c) => ({ metric: `potential_dedup_compress_ratio_${c}`, label: `dedup+${c}`, note: `logical / ${c} of the distinct units` })),
];

/** The potentials the figure draws (and the table's compact columns): one of each kind. */
export const FIGURE_POTENTIALS = ["potential_unit_ratio", "potential_fixed_ratio_4KiB", "potential_cdc_ratio_8KiB", "potential_compress_ratio_zstd-3", "potential_dedup_compress_ratio_zstd-3"];

export interface PotentialRow extends ConfigFields {
  stage: string;
  /** "measured" (a layer boundary) or "potential" (a property of the dataset). */
  kind: "measured" | "potential";
  /** Boundary (L0→L1 … L0→L3) or the potential's metric name. */
  quantity: string;
  label: string;
  /** Geometric mean over repeats (measured) or the dataset's value (potential). */
  center: number;
  lower: number;
  upper: number;
  n: number;
  /** Repeat statistics of a measured factor (repeats.ts, log scale); a potential has mean = center. */
  mean: number;
  sd: number;
  ci95: number;
  scale: string;
  reason: string;
}

const EMPTY = [...CONFIG_DIMS, "stage", "kind", "quantity", "label", "center", "lower", "upper", "n", "mean", "sd", "ci95", "scale", "reason"];

/**
 * Measured reduction per layer boundary and the dataset's potentials, per configuration ×
 * stage (long format, PotentialRow). Configurations without potential rows (older bundles)
 * keep their measured rows only; potentials without measured rows get stage "dataset".
 */
export function potentialFrame(results: Table | Frame): Frame {
  const f = frame(results);
  const pot = f.filter(aq.escape((d: { metric: string; layer: string }) => d.layer === "L0" && d.metric.startsWith("potential_")));
  const labels = new Map(POTENTIAL_QUANTITIES.map((q) => [q.metric, q.label]));
  // Potentials per configuration: mean of the usable values (they are equal across repeats).
  const potByCfg = new Map<string, Map<string, { sum: number; n: number }>>();
  for (const r of pot.objects() as Record<string, unknown>[]) {
    if (!labels.has(r.metric as string) || !isUsable(r as { valid: boolean | null; value: number | null })) continue;
    const key = JSON.stringify(CONFIG_DIMS.map((d) => r[d] ?? ""));
    const m = potByCfg.get(key) ?? potByCfg.set(key, new Map()).get(key)!;
    const a = m.get(r.metric as string) ?? { sum: 0, n: 0 };
    a.sum += r.value as number;
    a.n++;
    m.set(r.metric as string, a);
  }
  const red = reductionTable(f);
  const rows: Record<string, unknown>[] = [];
  const stagesByCfg = new Map<string, { dims: Record<string, unknown>; stages: Set<string> }>();
  for (const r of red.objects() as unknown as ReductionRow[]) {
    const dims = Object.fromEntries(CONFIG_DIMS.map((d) => [d, (r as unknown as Record<string, unknown>)[d] ?? ""]));
    rows.push({
      ...dims, stage: r.stage, kind: "measured", quantity: r.boundary, label: r.boundary,
      center: r.center, lower: r.lower, upper: r.upper, n: r.n, mean: r.mean, sd: r.sd, ci95: r.ci95, scale: r.scale, reason: r.reason,
    });
    const key = JSON.stringify(CONFIG_DIMS.map((d) => dims[d]));
    const e = stagesByCfg.get(key) ?? stagesByCfg.set(key, { dims, stages: new Set() }).get(key)!;
    e.stages.add(r.stage);
  }
  for (const [key, m] of potByCfg) {
    const measured = stagesByCfg.get(key);
    const dims = measured?.dims ?? Object.fromEntries(CONFIG_DIMS.map((d, i) => [d, (JSON.parse(key) as unknown[])[i]]));
    const stages = measured ? [...measured.stages] : ["dataset"];
    for (const stage of stages) {
      for (const q of POTENTIAL_QUANTITIES) {
        const a = m.get(q.metric);
        if (!a) continue;
        const v = a.sum / a.n;
        rows.push({ ...dims, stage, kind: "potential", quantity: q.metric, label: q.label, center: v, lower: NaN, upper: NaN, n: a.n, mean: v, sd: NaN, ci95: NaN, scale: "", reason: "" });
      }
    }
  }
  if (!rows.length) return aq.table(Object.fromEntries(EMPTY.map((k) => [k, []])));
  return aq.from(rows);
}

/** True when the frame has both measured boundaries and potentials (what the figure needs). */
export function hasPotential(pf: Frame): boolean {
  const rows = pf.objects() as { kind: string }[];
  return rows.some((r) => r.kind === "potential") && rows.some((r) => r.kind === "measured");
}

export { BOUNDARIES };
