// The one timing wrapper for every system (YCSB's DBWrapper): a monotonic ns clock around
// the system call only. Per-unit stages: units are generated and hashed before each call's
// clock starts. Bulk: wall clock around the whole load; input is produced ahead of it.
import { OK, type LabSystem, type OpStatus, type Unit, type UnitRef } from "../systems/contract.js";
import { type Histogram, newHistogram } from "./histogram.js";

const now = process.hrtime.bigint;

export interface StageMeasurement {
  /** Wall time of the stage's system calls, ns (bulk: the whole load; per unit: the sum of the calls). */
  durationNs: number;
  units: number;
  bytes: number;
  /** Per-operation latencies in ns (per-unit stages and maintenance). */
  samples: Float64Array;
  histogram: Histogram;
  /** Bulk: time the system waited for its next input batch (included in durationNs). */
  inputWaitNs: number;
  /** ok, or not implemented on this system: then nothing above is a measurement. */
  status: OpStatus;
}

function measurement(durationNs: number, units: number, bytes: number, samples: number[], inputWaitNs = 0, status: OpStatus = OK): StageMeasurement {
  const histogram = newHistogram();
  for (const s of samples) histogram.recordValue(Math.max(1, Math.round(s)));
  return { durationNs, units, bytes, samples: Float64Array.from(samples), histogram, inputWaitNs, status };
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

  /**
   * Bulk stage: wall clock from the first call to the system's acknowledgement of the last
   * batch. Input should be produced ahead (see runner/batch-feeder.ts); the time the system
   * still waited for its next batch is measured as inputWaitNs and never subtracted.
   */
  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<StageMeasurement> {
    let inputWaitNs = 0n;
    let units = 0;
    let bytes = 0;
    async function* feed(): AsyncGenerator<Unit[]> {
      const it = batches[Symbol.asyncIterator]();
      for (;;) {
        const w0 = now();
        const r = await it.next();
        inputWaitNs += now() - w0;
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
      throw new StageFailure(e, measurement(Number(now() - t0), units, bytes, [], Number(inputWaitNs)));
    }
    return measurement(Number(now() - t0), units, bytes, [], Number(inputWaitNs), status);
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
