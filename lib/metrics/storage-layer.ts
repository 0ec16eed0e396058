// Storage-physical (L3) sources, read from outside the system at phase boundaries.
// "local": allocated blocks of the system's own files (embedded systems, a local
// directory); "none": not measured (rows are null with a reason); other kinds (e.g.
// Prometheus/Longhorn) register themselves here.
import { UsageError } from "../errors.js";
import type { LabSystem } from "../systems/contract.js";
import { blockUsage } from "../fs-blocks.js";

export interface L3Reading {
  /** Storage replica id (node or replica name); "local" for local files. */
  replica: string;
  volume: string;
  bytes: number | null;
  valid: boolean;
  reason: string;
}

export interface PhaseWindow {
  cellId: string;
  system: string;
  stage: string;
  /** Runner clock, epoch ms. */
  start: number;
  end?: number;
}

export interface TimeseriesSample {
  source: string;
  metric: string;
  replica: string;
  volume: string;
  t: number;
  value: number | null;
}

export interface StorageLayerSource {
  readonly kind: string;
  /** Per-replica bytes at a phase boundary (`point` before: at phase.start; after: at phase.end). */
  read(system: LabSystem, phase: PhaseWindow, point: "before" | "after", opts?: { duringStage?: boolean }): Promise<L3Reading[]>;
  /** Raw size-over-time samples of a finished phase, where the source keeps history. */
  series?(system: LabSystem, phase: PhaseWindow): Promise<TimeseriesSample[]>;
  close?(): Promise<void>;
  /** Storage replicas the source measured (R of the storage layer), once known; else the config's. */
  readonly replicas?: number;
  /** What the storage layer is, short (the `storage_profile` column): thin, replicated×3, longhorn, none… */
  readonly profile?: string;
  /** The same, spelled out (snapshots.jsonl). */
  readonly description?: string;
  /** Before the system prepares its cell (e.g. make the cell's own volume at workDir). */
  provision?(workDir: string, sizeHint: number, log: (m: string) => void): Promise<void>;
  /** The fresh-baseline step before an empty-cell reading (e.g. trim). */
  freshen?(): Promise<string>;
  /** Freed but still allocated bytes that new writes could reuse without growing L3. */
  untrimmedBytes?(): Promise<number | null>;
  /** The storage layer's own maintenance, after the system's (trim, offline dedup). */
  maintain?(): Promise<string>;
}

export interface StorageLayerContext {
  systemName: string;
  embedded: boolean;
  /** The run config's `prometheus` block, if any. */
  prometheus?: unknown;
}

type Factory = (spec: unknown, ctx: StorageLayerContext) => StorageLayerSource;
const factories = new Map<string, Factory>();

export function registerStorageLayer(kind: string, factory: Factory): void {
  factories.set(kind, factory);
}

class LocalBlocks implements StorageLayerSource {
  readonly kind = "local";
  readonly profile = "file-blocks";
  async read(system: LabSystem): Promise<L3Reading[]> {
    const paths = system.storagePaths?.() ?? [];
    if (paths.length === 0) {
      return [{ replica: "local", volume: "", bytes: null, valid: false, reason: `${system.name} exposes no local files` }];
    }
    const u = await blockUsage(paths);
    return [{ replica: "local", volume: paths[0]!, bytes: u.allocated, valid: true, reason: "" }];
  }
}

class NotMeasured implements StorageLayerSource {
  readonly kind = "none";
  readonly profile = "none";
  constructor(private readonly reason: string) {}
  async read(): Promise<L3Reading[]> {
    return [{ replica: "all", volume: "", bytes: null, valid: false, reason: this.reason }];
  }
}

registerStorageLayer("local", () => new LocalBlocks());
registerStorageLayer("none", (_spec, ctx) => new NotMeasured(`no storage-layer source configured for ${ctx.systemName} (set systems.${ctx.systemName}.l3)`));

/** `l3` setting → source. Default: a thin per-cell volume for embedded systems, none otherwise. */
export function storageLayerFor(spec: unknown, ctx: StorageLayerContext): StorageLayerSource {
  const kind = spec === undefined ? (ctx.embedded ? "local-volume" : "none") : typeof spec === "string" ? spec : (spec as { kind?: string }).kind;
  const factory = kind ? factories.get(kind) : undefined;
  if (!factory) {
    throw new UsageError(`systems.${ctx.systemName}.l3: unknown storage-layer source "${String(kind)}"`, `use one of: ${[...factories.keys()].join(", ")}`);
  }
  return factory(spec ?? { kind }, ctx);
}
