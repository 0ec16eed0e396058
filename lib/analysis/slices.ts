// Figures and tables are drawn per workload slice: one payload × granularity × placement ×
// dataset size. Only dimensions that actually vary in the data name a slice, so a run with
// one payload gives plain file names ("edr") and many payloads give "edr-random_binary".
import * as aq from "arquero";
import { systemNames } from "../systems/registry.js";
import { insertionLabel } from "../results/schema.js";
import { datasetLabel, distinct, type Frame } from "./frames.js";

export const SLICE_DIMS = ["payload", "granularity", "placement", "unit_size", "n_units"] as const;

export interface Slice {
  /** Values of the slice dimensions. */
  key: { payload: string; granularity: string; placement: string; unit_size: string; n_units: number };
  /** Human label of the whole slice, for subtitles and captions. */
  label: string;
  /** File-name suffix from the varying dimensions only ("" if nothing varies). */
  suffix: string;
}

function sliceId(r: Record<string, unknown>): string {
  return SLICE_DIMS.map((d) => String(r[d])).join("\u0000");
}

/** The slices present in a frame that has the slice dimensions as columns. */
export function slicesOf(f: Frame): Slice[] {
  const rows = f.select(...SLICE_DIMS).dedupe().objects() as Slice["key"][];
  const varies = Object.fromEntries(SLICE_DIMS.map((d) => [d, distinct(f, d).length > 1])) as Record<(typeof SLICE_DIMS)[number], boolean>;
  return rows.map((key) => {
    const parts: string[] = [];
    if (varies.payload) parts.push(key.payload);
    if (varies.granularity) parts.push(key.granularity);
    if (varies.placement) parts.push(key.placement);
    if (varies.unit_size || varies.n_units) parts.push(`${key.n_units}x${key.unit_size}`);
    return {
      key,
      label: `${key.payload} · ${key.granularity} granularity · ${key.placement} placement · ${datasetLabel(key.n_units, key.unit_size)}`,
      suffix: parts.join("-").replace(/[^A-Za-z0-9_.x-]+/g, "_"),
    };
  });
}

/** Rows of `f` in the slice. */
export function inSlice(f: Frame, slice: Slice): Frame {
  const id = sliceId(slice.key);
  return f.filter(aq.escape((d: Record<string, unknown>) => sliceId(d) === id));
}

/** Display names: "sqlite", or "sqlite (wal)" when a system appears with several variants. */
export interface SystemSeries {
  system: string;
  variant: string;
  /** The storage layer under the system ("" in bundles written before it was recorded). */
  storage_profile: string;
  /** blob or typed ("blob" in bundles written before typed insertion). */
  insertion: string;
  /** Typed series' key mode ("" for blob). */
  keys: string;
  label: string;
  /** Index of the variant among this system's variants (pattern / dash). */
  variantIndex: number;
}

/** The system registry's order (a plain data module: reading it loads no connector). */
const SYSTEM_ORDER = systemNames();

/** Legend order of systems, the same in every figure (registry order, unknown ones last). */
export function systemRank(system: string): number {
  return SYSTEM_ORDER.includes(system) ? SYSTEM_ORDER.indexOf(system) : SYSTEM_ORDER.length;
}

export function systemSeries(f: Frame): SystemSeries[] {
  const cols = f.columnNames();
  const optional = ["storage_profile", "insertion", "keys"].filter((c) => cols.includes(c));
  const pairs = (f.select("system", "variant", ...optional).dedupe().objects() as { system: string; variant: string; storage_profile?: string; insertion?: string | null; keys?: string | null }[]).map(
    (p) => ({ system: p.system, variant: p.variant, storage_profile: p.storage_profile ?? "", insertion: p.insertion || "blob", keys: p.keys ?? "" }),
  );
  const rank = systemRank;
  const ins = (p: { insertion: string; keys: string }) => insertionLabel(p.insertion, p.keys);
  // Blob before typed·natural before typed·surrogate would be alphabetical; keep blob, surrogate, natural.
  const insRank = (p: { insertion: string; keys: string }) => ["blob", "typed·surrogate", "typed·natural"].indexOf(ins(p));
  pairs.sort((a, b) => rank(a.system) - rank(b.system) || a.system.localeCompare(b.system) || a.variant.localeCompare(b.variant) || a.storage_profile.localeCompare(b.storage_profile) || insRank(a) - insRank(b));
  const distinctSeries = [...new Map(pairs.map((p) => [seriesId(p), p])).values()];
  // The storage profile is named only where a system appears on several; the insertion where the
  // frame has typed cells (a figure of blob cells alone reads as before).
  const anyTyped = distinctSeries.some((p) => p.insertion === "typed");
  return distinctSeries.map((p) => {
    const mine = distinctSeries.filter((q) => q.system === p.system);
    const variants = [...new Set(mine.map((q) => q.variant))];
    const profiles = new Set(mine.map((q) => q.storage_profile));
    const label = (variants.length > 1 ? `${p.system} (${p.variant})` : p.system) + (profiles.size > 1 ? ` · ${p.storage_profile || "?"}` : "") + (anyTyped ? ` · ${ins(p)}` : "");
    return { ...p, label, variantIndex: mine.findIndex((q) => q.variant === p.variant && q.storage_profile === p.storage_profile && ins(q) === ins(p)) };
  });
}

type SeriesFields = { system: string; variant: string; storage_profile?: string; insertion?: string | null; keys?: string | null };

/** The identity of a series: system, variant, storage profile, insertion·keys (absent columns: "", blob). */
export function seriesId(r: SeriesFields): string {
  return `${r.system}\u0000${r.variant}\u0000${r.storage_profile ?? ""}\u0000${insertionLabel(r.insertion, r.keys)}`;
}

/** Does a row belong to a series (system, variant and, where recorded, storage profile and insertion)? */
export function inSeries(r: SeriesFields, s: SystemSeries): boolean {
  return seriesId(r) === seriesId(s);
}
