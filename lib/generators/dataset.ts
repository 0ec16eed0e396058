// A dataset = payload type × size distribution × duplicate plan × placement, all from
// one seed. Units are regenerated on demand from (dataset seed, payload, group), so a
// 10 GB dataset costs a few bytes per unit of memory and any unit can be rebuilt alone.
import { createHash } from "node:crypto";
import { z } from "zod";
import { UsageError } from "../errors.js";
import type { Unit, UnitRef } from "./unit.js";
import { COPY_POLICIES, planDuplicates, type DuplicationPlan } from "./plan.js";
import { payloadExtension, payloadType, type PayloadSource } from "./payloads.js";
import { seedFrom } from "./prng.js";
import { sizeForKey, validateSizeSpec } from "./sizes.js";
import { RecordDataset } from "./records-synthetic.js";
import { decodeRecord, encodeRecord, recordLogicalBytes, type RecordSchema } from "./records.js";

export const GENERATOR_VERSION = "dedup-lab-gen/1";

export const DatasetSpecSchema = z.object({
  payload: z.string(),
  units: z.number().int().min(1),
  size: z.object({ min: z.number().int(), max: z.number().int() }),
  fraction: z.number().min(0).lt(1),
  granularity: z.enum(["file", "block"]).default("file"),
  blockSize: z.number().int().min(512).default(4096),
  placement: z.enum(["within", "across"]).default("within"),
  containers: z.number().int().min(1).default(4),
  policy: z.enum(COPY_POLICIES).default("uniform"),
  seed: z.string().default("1"),
  /**
   * blob: a unit is one opaque payload. typed: a unit is one record of the payload's record schema
   * (records-synthetic.ts); its payload bytes are the record's canonical encoding (encodeRecord),
   * which a connector decodes into typed columns, and its logical bytes are the record's L0 bytes.
   */
  insertion: z.enum(["blob", "typed"]).default("blob"),
});
export type DatasetSpec = z.infer<typeof DatasetSpecSchema>;

export interface DatasetTotals {
  n_units: number;
  logical_bytes: number;
  unique_bytes: number;
  /** Units (file) or blocks (block) that are copies of an earlier one. */
  duplicate_items: number;
  items: number;
  requested_fraction: number;
  realized_fraction: number;
  /** logical / unique: the ideal dedup ratio. */
  dedup_ratio: number;
  largest_group: number;
}

export class Dataset {
  readonly seed: Buffer;
  readonly plan: DuplicationPlan;
  readonly totals: DatasetTotals;
  /** Stable short id of this dataset (first 12 hex chars of its seed). */
  readonly id: string;
  private readonly source: PayloadSource;
  private readonly sizes: Float64Array;
  /** Block granularity: first block index of unit i (length n+1). */
  private readonly blockStart?: Float64Array;
  private readonly unitGroup: Uint32Array;
  private readonly idWidth: number;
  /** Typed insertion: the records behind the units, and each unit's L0 logical bytes. */
  private readonly records?: RecordDataset;
  private readonly logical?: Float64Array;

  constructor(readonly spec: DatasetSpec) {
    validateSizeSpec(spec.size);
    const type = payloadType(spec.payload);
    const typed = spec.insertion === "typed";
    // Typed datasets add one seed part; blob seeds (and so every blob dataset) stay as they were.
    this.seed = seedFrom(GENERATOR_VERSION, spec.seed, spec.payload, spec.units, spec.size.min, spec.size.max,
      spec.fraction, spec.granularity, spec.blockSize, spec.placement, spec.containers, spec.policy, ...(typed ? ["typed"] : []));
    this.id = this.seed.toString("hex").slice(0, 12);
    this.idWidth = Math.max(7, String(spec.units - 1).length);
    const n = spec.units;
    this.sizes = new Float64Array(n);
    this.unitGroup = new Uint32Array(n);

    if (typed) {
      if (spec.granularity !== "file") {
        throw new UsageError(`typed insertion of ${spec.payload} with block granularity`, "records are whole units: use granularity file with insertion typed");
      }
      this.records = new RecordDataset({ payload: spec.payload, records: n, fraction: spec.fraction, policy: spec.policy, seed: spec.seed, bytesSize: spec.size });
      this.plan = this.records.plan;
      this.source = { available: Infinity, sizeOf: () => 0, fill: () => undefined };
      this.logical = new Float64Array(n);
      const schema = this.records.schema;
      for (let i = 0; i < n; i++) {
        const values = this.records.valuesOf(this.plan.group[i]!);
        this.sizes[i] = encodeRecord(schema, values).length;
        this.logical[i] = recordLogicalBytes(schema, values);
        this.unitGroup[i] = this.plan.group[i]!;
      }
    } else if (spec.granularity === "file") {
      this.source = type.open({ seed: this.seed, size: spec.size });
      this.plan = planDuplicates(n, spec.fraction, spec.policy, this.seed);
      if (this.plan.uniques > this.source.available) {
        throw new UsageError(
          `payload ${spec.payload} has ${this.source.available} distinct units, the plan needs ${this.plan.uniques}`,
          "use fewer units or a lower duplicate grade",
        );
      }
      for (let i = 0; i < n; i++) {
        this.sizes[i] = this.source.sizeOf(this.plan.group[i]!);
        this.unitGroup[i] = this.plan.group[i]!;
      }
    } else {
      const b = spec.blockSize;
      if (spec.size.min % b !== 0 || spec.size.max % b !== 0) {
        throw new UsageError(
          `unit size ${spec.size.min}..${spec.size.max} is not a multiple of the ${b} B block size`,
          "choose a unit size that is a multiple of --block-size",
        );
      }
      this.source = type.open({ seed: this.seed, size: { min: b, max: b }, granularity: "block" });
      this.blockStart = new Float64Array(n + 1);
      for (let i = 0; i < n; i++) {
        this.sizes[i] = Math.floor(sizeForKey(spec.size, this.seed, i) / b) * b;
        this.blockStart[i + 1] = this.blockStart[i]! + this.sizes[i]! / b;
      }
      this.plan = planDuplicates(this.blockStart[n]!, spec.fraction, spec.policy, this.seed);
      if (this.plan.uniques > this.source.available) {
        throw new UsageError(
          `payload ${spec.payload} has ${this.source.available} distinct ${b}-byte blocks, the plan needs ${this.plan.uniques}`,
          "use fewer or smaller units, or a higher duplicate grade",
        );
      }
      // A unit's group is the first unit with the same block sequence (usually itself).
      const firstBySequence = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        const key = this.plan.group.subarray(this.blockStart[i]!, this.blockStart[i + 1]!).join(",");
        const first = firstBySequence.get(key);
        if (first === undefined) firstBySequence.set(key, i);
        this.unitGroup[i] = first ?? i;
      }
    }
    this.totals = this.computeTotals();
  }

  private computeTotals(): DatasetTotals {
    let logical = 0;
    let unique = 0;
    const groupSizes = new Uint32Array(this.plan.uniques);
    const bytesOf = this.logical ?? this.sizes; // typed: L0 bytes of the record, not of its encoding
    for (let i = 0; i < this.plan.items; i++) {
      groupSizes[this.plan.group[i]!]!++;
      if (this.plan.isOriginal(i)) unique += this.spec.granularity === "file" ? bytesOf[i]! : this.spec.blockSize;
    }
    for (let i = 0; i < this.spec.units; i++) logical += bytesOf[i]!;
    return {
      n_units: this.spec.units,
      logical_bytes: logical,
      unique_bytes: unique,
      duplicate_items: this.plan.duplicates,
      items: this.plan.items,
      requested_fraction: this.spec.fraction,
      realized_fraction: this.plan.realizedFraction,
      dedup_ratio: logical / unique,
      largest_group: groupSizes.reduce((a, b) => Math.max(a, b), 0),
    };
  }

  get length(): number {
    return this.spec.units;
  }

  unitId(i: number): string {
    return `u${String(i).padStart(this.idWidth, "0")}`;
  }

  fileName(i: number): string {
    return `${this.unitId(i)}.${payloadExtension(this.spec.payload)}`;
  }

  /** Bytes of unit i's payload (typed: of the record's canonical encoding). */
  sizeOf(i: number): number {
    return this.sizes[i]!;
  }

  /** Typed insertion: the record schema the units' payloads encode; undefined for blobs. */
  get recordSchema(): RecordSchema | undefined {
    return this.records?.schema;
  }

  groupOf(i: number): number {
    return this.unitGroup[i]!;
  }

  containerOf(i: number): number {
    return this.spec.placement === "within" ? 0 : i % this.spec.containers;
  }

  get containers(): number {
    return this.spec.placement === "within" ? 1 : this.spec.containers;
  }

  /** The bytes of unit i, regenerated from seeds. */
  payload(i: number): Buffer {
    if (this.records) return encodeRecord(this.records.schema, this.records.valuesOf(this.plan.group[i]!));
    const out = Buffer.allocUnsafe(this.sizes[i]!);
    if (this.spec.granularity === "file") {
      this.source.fill(this.plan.group[i]!, out);
    } else {
      const b = this.spec.blockSize;
      for (let k = this.blockStart![i]!, off = 0; k < this.blockStart![i + 1]!; k++, off += b) {
        this.source.fill(this.plan.group[k]!, out.subarray(off, off + b));
      }
    }
    return out;
  }

  unit(i: number): Unit {
    const payload = this.payload(i);
    return {
      id: this.unitId(i),
      index: i,
      size: payload.length,
      sha256: createHash("sha256").update(payload).digest(),
      group: this.groupOf(i),
      container: this.containerOf(i),
      payload,
    };
  }

  *units(from = 0, to = this.length): Generator<Unit> {
    for (let i = from; i < to; i++) yield this.unit(i);
  }

  /** Delete refs of every unit, in order, without payloads; a typed unit's ref carries its record. */
  *refs(): Generator<UnitRef> {
    // A typed unit is one plan item: "an earlier unit had this record" is the plan's own !isOriginal.
    const seenInContainer = new Set<number>();
    for (let i = 0; i < this.length; i++) {
      const { payload, ...ref } = this.unit(i);
      if (!this.records) {
        yield ref;
        continue;
      }
      const inContainer = ref.group * this.containers + ref.container;
      yield { ...ref, record: { values: decodeRecord(this.records.schema, payload), repeat: !this.plan.isOriginal(i), repeatInContainer: seenInContainer.has(inContainer) } };
      seenInContainer.add(inContainer);
    }
  }

  /** Units in batches of at most `maxBytes` (at least one unit each): memory stays flat. */
  *batches(maxBytes = 4 * 1024 * 1024): Generator<Unit[]> {
    let batch: Unit[] = [];
    let bytes = 0;
    for (const u of this.units()) {
      if (batch.length > 0 && bytes + u.size > maxBytes) {
        yield batch;
        batch = [];
        bytes = 0;
      }
      batch.push(u);
      bytes += u.size;
    }
    if (batch.length > 0) yield batch;
  }

  close(): void {
    this.source.close?.();
  }
}
