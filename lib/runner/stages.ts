// Stage dispatch: which timed operation of the wrapper each stage is, over which units.
import type { Dataset } from "../generators/dataset.js";
import type { MeasuredSystem, StageMeasurement } from "../metrics/measured-system.js";
import type { Stage, Unit } from "../systems/contract.js";
import type { RunConfig } from "./config.js";
import type { Cell } from "./matrix.js";

export class Interrupted extends Error {
  constructor() {
    super("interrupted by signal");
  }
}

/** `bulkInput`: the batches of the bulk stage, produced ahead of the clock (BatchFeeder). */
export async function runStage(stage: Stage, measured: MeasuredSystem, ds: Dataset, cfg: RunConfig, cell: Cell, signal?: AbortSignal, bulkInput?: AsyncIterable<Unit[]>): Promise<StageMeasurement> {
  const check = function* <T>(items: Iterable<T>): Generator<T> {
    for (const x of items) {
      if (signal?.aborted) throw new Interrupted();
      yield x;
    }
  };
  const checkAsync = async function* <T>(items: AsyncIterable<T>): AsyncGenerator<T> {
    for await (const x of items) {
      if (signal?.aborted) throw new Interrupted();
      yield x;
    }
  };
  switch (stage) {
    case "bulk_insert":
      if (!bulkInput) throw new Error("internal: bulk_insert without its input feeder");
      return measured.bulkInsert(checkAsync(bulkInput));
    case "perfile_insert":
      return measured.insertEach(check(ds.units()));
    case "perfile_delete":
      // Regenerated (outside the timer) so the ref carries the unit's hash and, typed, its record.
      return measured.deleteEach(check(ds.refs()));
    case "maintenance":
      return measured.maintenance(cell.system.maintenance);
  }
}
