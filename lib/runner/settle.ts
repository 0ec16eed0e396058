// Settled stage boundaries and size over time. Before every "after" reading the system's own
// settle step runs (checkpoint, merge wait, …; outside every clock), then the layers are
// polled until consecutive readings agree — bounded, with every poll kept as a time series
// sample. A layer still changing at the bound is named, and its rows carry that reason.
import type { L3Reading, PhaseWindow, StorageLayerSource } from "../metrics/storage-layer.js";
import type { TimeseriesRow } from "../results/schema.js";
import type { LabSystem } from "../systems/contract.js";
import type { SizePoint } from "./rows.js";

export interface SettleOptions {
  /** Poll / sampling interval, ms (≥ 100 ms: at most 10 Hz). */
  intervalMs: number;
  /** Upper bound of the stability poll, ms. */
  timeoutMs: number;
  /** Consecutive equal readings of every layer that count as settled. */
  stableReadings: number;
}

export const DEFAULT_SETTLE: SettleOptions = { intervalMs: 100, timeoutMs: 30_000, stableReadings: 2 };

export type Sample = Omit<TimeseriesRow, "run_id" | "cell_id" | "system" | "stage">;

/** The three comparable layer values of a reading (primary L1, L2; L3 per replica). */
export function layerValues(p: SizePoint): Map<string, number | null> {
  const m = new Map<string, number | null>();
  for (const layer of ["L1", "L2"] as const) {
    const r = p.readings.find((x) => x.layer === layer && x.primary);
    if (r) m.set(layer, r.bytes);
  }
  for (const r of p.l3) m.set(`L3/${r.replica}`, r.bytes);
  return m;
}

export function samplesOf(p: SizePoint, source: string, t: number): Sample[] {
  const out: Sample[] = [];
  for (const [key, value] of layerValues(p)) {
    const [layer, replica = ""] = key.split("/");
    out.push({ source, metric: `size_bytes_${layer}`, replica: replica!, volume: layer === "L3" ? (p.l3.find((r) => r.replica === replica)?.volume ?? "") : "", t, value });
  }
  return out;
}

function sameValues(a: Map<string, number | null>, b: Map<string, number | null>): string[] {
  const changing: string[] = [];
  for (const [k, v] of b) if (a.get(k) !== v) changing.push(k.split("/")[0]!);
  return [...new Set(changing)];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Settled {
  point: SizePoint;
  /** Layers still changing when the bound was reached ("" when settled). */
  unsettled: string;
  /** What the system's own settle step reported ("" = ok / not needed). */
  note: string;
  durationS: number;
  polls: number;
  samples: Sample[];
}

/**
 * Run the system's settle step, then read sizes until `stableReadings` consecutive readings
 * agree on every layer, or the bound is reached.
 */
export async function settle(system: LabSystem, read: () => Promise<SizePoint>, opts: SettleOptions): Promise<Settled> {
  const t0 = Date.now();
  let note = "";
  const s = await system.settle();
  if (s.code !== "ok") note = `not settled by ${system.name}: ${s.note}`;
  const samples: Sample[] = [];
  let point = await read();
  samples.push(...samplesOf(point, "settle", Date.now()));
  let polls = 1;
  let stable = 1;
  let changing: string[] = [];
  while (stable < opts.stableReadings) {
    if (Date.now() - t0 >= opts.timeoutMs) break;
    await sleep(opts.intervalMs);
    const next = await read();
    polls++;
    samples.push(...samplesOf(next, "settle", Date.now()));
    changing = sameValues(layerValues(point), layerValues(next));
    stable = changing.length === 0 ? stable + 1 : 1;
    point = next;
  }
  const unsettled = stable >= opts.stableReadings ? "" : changing.join(",");
  return { point, unsettled, note, durationS: (Date.now() - t0) / 1000, polls, samples };
}

/** Samples L3 (read from outside the system, so never perturbing it) while a stage runs. */
export class StageSampler {
  readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly l3: StorageLayerSource,
    private readonly system: LabSystem,
    private readonly phase: PhaseWindow,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    // Only sources that read local files are sampled during the stage; others keep their own history (series()).
    if (this.l3.kind !== "local" && this.l3.kind !== "local-volume") return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      // duringStage: read without forcing the volume's sync, so sampling does not perturb the stage.
      const r: L3Reading[] = await this.l3.read(this.system, this.phase, "after", { duringStage: true });
      this.samples.push(...samplesOf({ readings: [], l3: r }, "sampler", Date.now()));
    } catch {
      // A failed sample is a gap in the series, not a failed stage.
    } finally {
      this.busy = false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/**
 * Time to reclaim: seconds from the stage's end until a layer (L1 or L2) first reached its settled
 * value (within 1 % of the stage's change), from the settle samples. null when it never moved.
 */
export function timeToReclaim(samples: Sample[], layer: string, stageEnd: number, before: number | null, after: number | null): number | null {
  if (before === null || after === null || after === before) return null;
  const tol = Math.abs(after - before) * 0.01;
  const series = samples.filter((s) => s.metric === `size_bytes_${layer}`).sort((a, b) => a.t - b.t);
  for (const s of series) if (s.value !== null && Math.abs(s.value - after) <= tol) return Math.max(0, (s.t - stageEnd) / 1000);
  return null;
}
