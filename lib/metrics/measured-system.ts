// The one timing wrapper for every system (YCSB's DBWrapper): a monotonic ns clock around
// the system call only. Units are generated and hashed before the clock starts; for bulk
// streams the time spent producing batches is measured and subtracted.
import { OK, type LabSystem, type OpStatus, type Unit, type UnitRef } from "../systems/contract.js";
import { type Histogram, newHistogram } from "./histogram.js";

const now = process.hrtime.bigint;

export interface StageMeasurement {
  /** Time inside system calls, ns. */
  durationNs: number;
  units: number;
  bytes: number;
  /** Per-operation latencies in ns (per-unit stages and maintenance). */
  samples: Float64Array;
  histogram: Histogram;
  /** Time spent generating input inside the bulk stream (excluded from durationNs). */
  generationNs: number;
  /** ok, or not implemented on this system: then nothing above is a measurement. */
  status: OpStatus;
}

function measurement(durationNs: number, units: number, bytes: number, samples: number[], generationNs = 0, status: OpStatus = OK): StageMeasurement {
  const histogram = newHistogram();
  for (const s of samples) histogram.recordValue(Math.max(1, Math.round(s)));
  return { durationNs, units, bytes, samples: Float64Array.from(samples), histogram, generationNs, status };
}

/** A connector that returns nothing did its work. */
function statusOf(result: OpStatus | void): OpStatus {
  return result ?? OK;
}

/** Thrown when an operation fails mid-stage; carries what was measured before. */
export class StageFailure extends Error {
  constructor(
    override readonly cause: unknown,
    readonly partial: StageMeasurement,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

export class MeasuredSystem {
  constructor(readonly system: LabSystem) {}

  /** Bulk stage: one call over a stream of batches; generation time excluded. */
  async bulkInsert(batches: Iterable<Unit[]>): Promise<StageMeasurement> {
    let generationNs = 0n;
    let units = 0;
    let bytes = 0;
    async function* feed(): AsyncGenerator<Unit[]> {
      const it = batches[Symbol.iterator]();
      for (;;) {
        const g0 = now();
        const r = it.next();
        generationNs += now() - g0;
        if (r.done) return;
        units += r.value.length;
        for (const u of r.value) bytes += u.size;
        yield r.value;
      }
    }
    const t0 = now();
    let status: OpStatus;
    try {
      status = statusOf(await this.system.bulkInsert(feed()));
    } catch (e) {
      throw new StageFailure(e, measurement(Number(now() - t0 - generationNs), units, bytes, [], Number(generationNs)));
    }
    const total = now() - t0;
    return measurement(Number(total - generationNs), units, bytes, [], Number(generationNs), status);
  }

  insertEach(units: Iterable<Unit>): Promise<StageMeasurement> {
    return this.perUnit(units, (u) => this.system.insert(u as Unit));
  }

  deleteEach(units: Iterable<UnitRef>): Promise<StageMeasurement> {
    return this.perUnit(units, (u) => this.system.delete(u));
  }

  async maintenance(name: string): Promise<StageMeasurement> {
    const t0 = now();
    let status: OpStatus;
    try {
      status = statusOf(await this.system.maintenance(name));
    } catch (e) {
      throw new StageFailure(e, measurement(Number(now() - t0), 0, 0, []));
    }
    const d = Number(now() - t0);
    return status.code === "ok" ? measurement(d, 0, 0, [d]) : measurement(0, 0, 0, [], 0, status);
  }

  /** Per-unit stage: each call timed alone; the first failure ends the stage. */
  private async perUnit(units: Iterable<UnitRef>, op: (u: UnitRef) => Promise<OpStatus | void>): Promise<StageMeasurement> {
    const samples: number[] = [];
    let bytes = 0;
    let total = 0;
    for (const u of units) {
      const t0 = now();
      let status: OpStatus;
      try {
        status = statusOf(await op(u));
      } catch (e) {
        throw new StageFailure(e, measurement(total, samples.length, bytes, samples));
      }
      const d = Number(now() - t0);
      // An operation the system does not implement ends the stage: it is reported, not timed.
      if (status.code !== "ok") return measurement(0, 0, 0, [], 0, status);
      samples.push(d);
      total += d;
      bytes += u.size;
    }
    return measurement(total, samples.length, bytes, samples);
  }
}
