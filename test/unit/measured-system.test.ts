// The one timing wrapper (lib/metrics/measured-system.ts) on its own, over a small in-memory
// LabSystem: what it counts, what it times, what a failure and a "not implemented" become.
// A fake is right here: this tests the wrapper, not a server (connectors meet real servers in
// test/contract/systems.contract.test.ts).
import { describe, expect, it } from "vitest";
import { MeasuredSystem, StageFailure, type StageMeasurement } from "../../lib/metrics/measured-system.js";
import { OK, notImplemented, type Capabilities, type CellContext, type LabSystem, type OpStatus, type SizeReading, type Unit, type UnitRef } from "../../lib/systems/contract.js";
import { smallDataset } from "../helpers/contract-harness.js";

const MS = 1_000_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Wait at least `ms` by the same monotonic clock the wrapper uses (timers may fire a hair early). */
async function waitAtLeast(ms: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  while (Number(process.hrtime.bigint() - t0) < ms * MS) await sleep(1);
  return Number(process.hrtime.bigint() - t0);
}

/** Keeps units in a Map. Each operation can be told to wait, fail at a unit, or answer a status. */
class MemorySystem implements LabSystem {
  readonly name = "memory";
  readonly capabilities: Capabilities = {
    variants: { default: "a Map" },
    maintenance: { compact: "nothing to compact" },
    layers: ["L1"],
    stages: ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"],
    embedded: true,
  };
  readonly stored = new Map<string, Buffer>();
  /** How long each delayed call really waited, ns (measured inside the fake). */
  readonly waited: number[] = [];
  calls = { bulk: 0, insert: 0, delete: 0, maintenance: 0 };
  delayMs = 0;
  failAt?: number;
  status?: OpStatus;

  async connect(): Promise<void> {}
  async close(): Promise<void> {}
  async prepare(_cell: CellContext): Promise<void> {}
  async settle(): Promise<OpStatus> {
    return OK;
  }
  private async op(index: number): Promise<OpStatus> {
    if (this.delayMs > 0) this.waited.push(await waitAtLeast(this.delayMs));
    if (this.failAt === index) throw new Error(`memory: unit ${index} refused`);
    return this.status ?? OK;
  }
  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<OpStatus> {
    this.calls.bulk++;
    for await (const batch of batches) {
      for (const u of batch) {
        if (this.failAt === u.index) throw new Error(`memory: bulk refused unit ${u.index}`);
        this.stored.set(u.id, u.payload);
      }
    }
    if (this.delayMs > 0) this.waited.push(await waitAtLeast(this.delayMs));
    return this.status ?? OK;
  }
  async insert(u: Unit): Promise<OpStatus> {
    this.calls.insert++;
    const s = await this.op(u.index);
    if (s.code === "ok") this.stored.set(u.id, u.payload);
    return s;
  }
  async delete(u: UnitRef): Promise<OpStatus> {
    this.calls.delete++;
    const s = await this.op(u.index);
    if (s.code === "ok") this.stored.delete(u.id);
    return s;
  }
  async maintenance(_name: string): Promise<OpStatus> {
    this.calls.maintenance++;
    return this.op(-1);
  }
  async reset(): Promise<void> {
    this.stored.clear();
  }
  async sizes(): Promise<SizeReading[]> {
    let bytes = 0;
    for (const b of this.stored.values()) bytes += b.length;
    return [{ layer: "L1", metric: "map_bytes", bytes, primary: true }];
  }
  async snapshot(): Promise<unknown> {
    return { units: this.stored.size };
  }
  async cleanup(): Promise<void> {
    this.stored.clear();
  }
}

const ds = smallDataset({ units: 12, size: { min: 1024, max: 1024 }, fraction: 0.5 });
const units = () => [...ds.units()];

function expectConsistent(m: StageMeasurement): void {
  expect(m.histogram.totalCount).toBe(m.samples.length);
  expect(m.durationNs).toBeGreaterThanOrEqual(0);
  expect(m.inputWaitNs).toBeGreaterThanOrEqual(0);
  for (const s of m.samples) expect(s).toBeGreaterThanOrEqual(0);
}

async function failure(p: Promise<unknown>): Promise<StageFailure> {
  const e = await p.then(
    () => new Error("expected the stage to fail"),
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(StageFailure);
  return e as StageFailure;
}

describe("MeasuredSystem: per-unit stages", () => {
  it("one sample per unit; the histogram holds exactly the samples; bytes and duration add up", async () => {
    const sys = new MemorySystem();
    const m = await new MeasuredSystem(sys).insertEach(units());
    expect(m.status).toEqual(OK);
    expect(m.units).toBe(12);
    expect(m.samples).toHaveLength(12);
    expect(m.bytes).toBe(12 * 1024);
    expectConsistent(m);
    expect(m.durationNs).toBe(m.samples.reduce((a, b) => a + b, 0));
    expect(m.inputWaitNs).toBe(0);
    expect(sys.stored.size).toBe(12);

    const d = await new MeasuredSystem(sys).deleteEach(units());
    expect(d.units).toBe(12);
    expect(d.samples).toHaveLength(12);
    expect(d.histogram.totalCount).toBe(12);
    expect(sys.stored.size).toBe(0);
  });

  it("each sample covers the system call: an operation that waits 5 ms gives a sample of at least that wait", async () => {
    const sys = new MemorySystem();
    sys.delayMs = 5;
    const m = await new MeasuredSystem(sys).insertEach(units().slice(0, 3));
    expect(m.samples).toHaveLength(3);
    expect(sys.waited).toHaveLength(3);
    m.samples.forEach((s, i) => {
      expect(sys.waited[i]!).toBeGreaterThanOrEqual(5 * MS);
      expect(s).toBeGreaterThanOrEqual(sys.waited[i]!);
    });
    expect(m.histogram.minNonZeroValue).toBeGreaterThanOrEqual(4.99 * MS); // 3 significant digits
    expectConsistent(m);
  });

  it("a failing operation throws StageFailure carrying what was measured before it, and the cause", async () => {
    const sys = new MemorySystem();
    sys.failAt = 5; // unit index 5 fails: units 0…4 were written and timed
    const e = await failure(new MeasuredSystem(sys).insertEach(units()));
    expect(e.message).toBe("memory: unit 5 refused");
    expect(e.cause).toBeInstanceOf(Error);
    expect(e.partial.units).toBe(5);
    expect(e.partial.samples).toHaveLength(5);
    expect(e.partial.bytes).toBe(5 * 1024);
    expect(e.partial.status).toEqual(OK);
    expectConsistent(e.partial);
    expect(e.partial.durationNs).toBe(e.partial.samples.reduce((a, b) => a + b, 0));
    expect(sys.calls.insert).toBe(6); // the stage ended at the first failure
  });

  it("a failure on the first unit carries an empty measurement", async () => {
    const sys = new MemorySystem();
    sys.failAt = 0;
    const e = await failure(new MeasuredSystem(sys).deleteEach(units()));
    expect(e.partial).toMatchObject({ units: 0, bytes: 0, durationNs: 0 });
    expect(e.partial.samples).toHaveLength(0);
    expect(e.partial.histogram.totalCount).toBe(0);
  });

  it("not_implemented ends the stage: that status with its note, no samples, nothing timed", async () => {
    const sys = new MemorySystem();
    sys.status = notImplemented("no per-unit path here");
    const m = await new MeasuredSystem(sys).insertEach(units());
    expect(m.status).toEqual({ code: "not_implemented", note: "no per-unit path here" });
    expect(m.samples).toHaveLength(0);
    expect(m.histogram.totalCount).toBe(0);
    expect(m).toMatchObject({ units: 0, bytes: 0, durationNs: 0 });
    expect(sys.calls.insert).toBe(1);
  });
});

describe("MeasuredSystem: maintenance", () => {
  it("produces exactly one sample, equal to the stage duration", async () => {
    const sys = new MemorySystem();
    sys.delayMs = 3;
    const m = await new MeasuredSystem(sys).maintenance("compact");
    expect(m.status).toEqual(OK);
    expect(m.samples).toHaveLength(1);
    expect(m.histogram.totalCount).toBe(1);
    expect(m.samples[0]).toBe(m.durationNs);
    expect(m.durationNs).toBeGreaterThanOrEqual(sys.waited[0]!);
    expect(sys.waited[0]!).toBeGreaterThanOrEqual(3 * MS);
    expect(m).toMatchObject({ units: 0, bytes: 0 });
  });

  it("not_implemented: that status and note, no sample, a zero that is not a measurement", async () => {
    const sys = new MemorySystem();
    sys.status = notImplemented("the stand-in has no GC to wait for");
    const m = await new MeasuredSystem(sys).maintenance("compact");
    expect(m.status).toEqual({ code: "not_implemented", note: "the stand-in has no GC to wait for" });
    expect(m.samples).toHaveLength(0);
    expect(m.histogram.totalCount).toBe(0);
    expect(sys.calls.maintenance).toBe(1);
  });

  it("a failing maintenance throws StageFailure with an empty partial measurement", async () => {
    const sys = new MemorySystem();
    sys.failAt = -1;
    const e = await failure(new MeasuredSystem(sys).maintenance("compact"));
    expect(e.message).toBe("memory: unit -1 refused");
    expect(e.partial.samples).toHaveLength(0);
    expect(e.partial.durationNs).toBeGreaterThanOrEqual(0);
  });
});

describe("MeasuredSystem: bulk stage", () => {
  /** The dataset's batches as the runner hands them over: an async stream, each batch late by `lateMs`. */
  async function* stream(lateMs = 0): AsyncGenerator<Unit[]> {
    for (const b of ds.batches(4096)) {
      if (lateMs > 0) await waitAtLeast(lateMs);
      yield b;
    }
  }
  const nBatches = [...ds.batches(4096)].length; // batches of four 1 KiB units

  it("one wall-clock measurement of the whole load: units and bytes of the stream, no per-unit samples", async () => {
    const sys = new MemorySystem();
    sys.delayMs = 2; // the system acknowledges the load after 2 ms
    const t0 = process.hrtime.bigint();
    const m = await new MeasuredSystem(sys).bulkInsert(stream());
    const wall = Number(process.hrtime.bigint() - t0);
    expect(m.status).toEqual(OK);
    expect(m).toMatchObject({ units: 12, bytes: 12 * 1024 });
    expect(m.samples).toHaveLength(0);
    expect(m.histogram.totalCount).toBe(0);
    expect(m.durationNs).toBeGreaterThanOrEqual(sys.waited[0]!);
    expect(m.durationNs).toBeLessThanOrEqual(wall);
    expect(sys.calls.bulk).toBe(1);
    expect(sys.stored.size).toBe(12);
  });

  it("time the system waited for late input is measured as inputWaitNs and stays inside the duration", async () => {
    const sys = new MemorySystem();
    const m = await new MeasuredSystem(sys).bulkInsert(stream(3));
    expect(nBatches).toBe(3);
    expect(m.inputWaitNs).toBeGreaterThanOrEqual(nBatches * 3 * MS);
    expect(m.durationNs).toBeGreaterThanOrEqual(m.inputWaitNs);
    expect(m.units).toBe(12);
  });

  it("a failing bulk stream throws StageFailure carrying the units handed over so far", async () => {
    const sys = new MemorySystem();
    sys.failAt = 7;
    const e = await failure(new MeasuredSystem(sys).bulkInsert(stream()));
    expect(e.message).toBe("memory: bulk refused unit 7");
    // the batch holding unit 7 (units 4…7) was handed over whole
    expect(e.partial.units).toBe(8);
    expect(e.partial.bytes).toBe(8 * 1024);
    expect(e.partial.samples).toHaveLength(0);
    expect(e.partial.durationNs).toBeGreaterThanOrEqual(0);
  });

  it("not_implemented on the bulk path is carried as the status", async () => {
    const sys = new MemorySystem();
    sys.status = notImplemented("no bulk path");
    const m = await new MeasuredSystem(sys).bulkInsert(stream());
    expect(m.status).toEqual({ code: "not_implemented", note: "no bulk path" });
    expect(m.samples).toHaveLength(0);
    expect(m.histogram.totalCount).toBe(0);
  });
});
