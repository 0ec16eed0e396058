// Typed insertion round trip (issue 14), shared by every system's typed tests: one typed cell of a
// synthetic payload goes into a real system (bulk path or per record), the system settles, counts
// the records it holds and reads every record back; the result is compared with the generator's
// records by canonical digest, as a multiset — nothing dropped, no field lost, binary intact.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Dataset, DatasetSpecSchema } from "../../lib/generators/dataset.js";
import { recordDigest, validateRecord } from "../../lib/generators/records.js";
import type { CellContext, CollisionBehaviour, KeyMode, LabSystem, OpStatus, Unit } from "../../lib/systems/contract.js";
import { LabNamespace } from "../../lib/systems/namespace.js";
import { systemDefinition } from "../../lib/systems/registry.js";

export const TYPED_PAYLOADS = ["structured_json", "jsonb_documents", "text_document", "uuid_keys", "random_binary"] as const;

export interface TypedRoundTripOptions {
  payload: string;
  fraction: number;
  keys: KeyMode;
  /** bulk: one bulkInsert over batches; perfile: insert() per record. */
  path: "bulk" | "perfile";
  units?: number;
  /** random_binary's data field size (default 1 KiB). */
  bytes?: number;
  variant?: string;
  lab?: LabNamespace;
}

export interface TypedRoundTrip {
  dataset: Dataset;
  /** Records written (units). */
  written: number;
  /** Byte-identical duplicate records in the dataset (the manifest's count). */
  duplicates: number;
  /** What the system declares a natural-key duplicate meets. */
  collision: CollisionBehaviour;
  /** storedRecords() after settle. */
  stored: number | null;
  /** Records a correct system must hold: all written (surrogate keys, or natural keys it keeps), else the distinct ones. */
  expectedStored: number;
  /** Read-back records missing from / in excess of the expected multiset (by canonical digest). */
  missing: number;
  extra: number;
  /** Read-back records that did not validate against the schema (a lost field, a wrong type). */
  invalid: string[];
  statuses: OpStatus[];
}

/** One typed cell through `system` (created from `options` of registered system `name`), then cleaned up. */
export async function typedRoundTrip(name: string, options: unknown, o: TypedRoundTripOptions): Promise<TypedRoundTrip> {
  const def = systemDefinition(name);
  const lab = o.lab ?? new LabNamespace();
  const system: LabSystem = def.create(options, lab);
  const dataset = new Dataset(DatasetSpecSchema.parse({
    payload: o.payload, units: o.units ?? 40, size: { min: o.bytes ?? 1024, max: o.bytes ?? 1024 }, fraction: o.fraction, insertion: "typed",
  }));
  const schema = dataset.recordSchema!;
  const workDir = mkdtempSync(join(tmpdir(), "dedup-lab-typed-"));
  const cell: CellContext = {
    lab, cellKey: "t" + Math.random().toString(36).slice(2, 10), variant: o.variant ?? Object.keys(def.capabilities.variants)[0]!,
    containers: dataset.containers, workDir, log: () => {}, typed: { schema, keys: o.keys },
  };
  await system.connect();
  try {
    if (!system.capabilities.typed) throw new Error(`${name} declares no typed insertion (capabilities.typed)`);
    await system.prepare(cell);
    // read after prepare(): what a natural-key duplicate meets may depend on the cell's variant
    // (ClickHouse MergeTree keeps it, ReplacingMergeTree replaces it; Kafka delete vs compact topics)
    const collision = system.capabilities.typed!.collision;
    const statuses: OpStatus[] = [];
    if (o.path === "bulk") {
      statuses.push(await system.bulkInsert((async function* () {
        for (const b of dataset.batches(64 * 1024)) yield b as Unit[];
      })()));
    } else {
      for (const u of dataset.units()) statuses.push(await system.insert(u));
    }
    await system.settle();
    const stored = system.storedRecords ? await system.storedRecords() : null;

    // Expected multiset of digests: every record, or one per distinct record where duplicates collide.
    const collides = o.keys === "natural" && collision !== "kept";
    const expected = new Map<string, number>();
    for (const u of dataset.units()) {
      const d = u.sha256.toString("hex");
      if (collides && expected.has(d)) continue;
      expected.set(d, (expected.get(d) ?? 0) + 1);
    }
    const expectedStored = [...expected.values()].reduce((a, b) => a + b, 0);
    let extra = 0;
    const invalid: string[] = [];
    if (!system.readRecords) throw new Error(`${name} cannot read records back (readRecords)`);
    for await (const values of system.readRecords()) {
      try {
        validateRecord(schema, values);
      } catch (e) {
        invalid.push((e as Error).message);
        continue;
      }
      const d = recordDigest(schema, values).toString("hex");
      const left = expected.get(d) ?? 0;
      if (left > 0) expected.set(d, left - 1);
      else extra++;
    }
    const missing = [...expected.values()].reduce((a, b) => a + b, 0);
    return {
      dataset, written: dataset.length, duplicates: dataset.totals.duplicate_items, collision, stored, expectedStored,
      missing, extra, invalid, statuses,
    };
  } finally {
    await system.cleanup(cell.cellKey).catch(() => {});
    await system.close();
    rmSync(workDir, { recursive: true, force: true });
  }
}
