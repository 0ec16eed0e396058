// Stage dispatch: which timed operation of the wrapper each stage is, over which units.
import type { Dataset } from "../generators/dataset.js";
import type { MeasuredSystem, StageMeasurement } from "../metrics/measured-system.js";
import type { Stage } from "../systems/contract.js";
import type { RunConfig } from "./config.js";
import type { Cell } from "./matrix.js";

export class Interrupted extends Error {
  constructor() {
    super("interrupted by signal");
  }
}

export async function runStage(stage: Stage, measured: MeasuredSystem, ds: Dataset, cfg: RunConfig, cell: Cell, signal?: AbortSignal): Promise<StageMeasurement> {
  const check = function* <T>(items: Iterable<T>): Generator<T> {
    for (const x of items) {
      if (signal?.aborted) throw new Interrupted();
      yield x;
    }
  };
  switch (stage) {
    case "bulk_insert":
      return measured.bulkInsert(check(ds.batches(cfg.batchBytes)));
    case "perfile_insert":
      return measured.insertEach(check(ds.units()));
    case "perfile_delete":
      // Regenerated (outside the timer) so the ref carries the unit's hash, as the contract promises.
      return measured.deleteEach(check(ds.units()));
    case "maintenance":
      return measured.maintenance(cell.system.maintenance);
  }
}
