// Typed insertion (issue 14) through the real local SQL servers: PostgreSQL, the CockroachDB
// stand-in (TLS PostgreSQL) and MariaDB. Every synthetic payload × U0/U90 × surrogate/natural
// keys × bulk/per-record path: every record is stored (surrogate) or exactly the duplicates are
// rejected (natural), and reading the table back gives the generator's records, field for field.
import { describe, expect, it } from "vitest";
import { Dataset, DatasetSpecSchema } from "../../lib/generators/dataset.js";
import type { CellContext, SizeReading, Unit } from "../../lib/systems/contract.js";
import { LabNamespace } from "../../lib/systems/namespace.js";
import { systemDefinition } from "../../lib/systems/registry.js";
import { contractTarget } from "../helpers/contract-systems.js";
import { TYPED_PAYLOADS, typedRoundTrip } from "../helpers/typed-harness.js";

const SYSTEMS = ["postgres", "cockroach", "mariadb"] as const;
const FRACTIONS = [0, 0.9];
const lab = new LabNamespace();

for (const name of SYSTEMS) {
  describe(`${name}: typed cells`, () => {
    const target = () => contractTarget(name);

    it("declares rejected collisions and a mapping", () => {
      const typed = systemDefinition(name).capabilities.typed;
      expect(typed?.collision).toBe("rejected");
      expect(typed?.mapping.length).toBeGreaterThan(20);
    });

    for (const payload of TYPED_PAYLOADS) {
      for (const fraction of FRACTIONS) {
        for (const keys of ["surrogate", "natural"] as const) {
          for (const path of ["bulk", "perfile"] as const) {
            it(`${payload} U${fraction * 100} ${keys} ${path}`, async () => {
              const r = await typedRoundTrip(name, target().options, { payload, fraction, keys, path, units: 40, bytes: 700, lab });
              expect(r.statuses.every((s) => s.code === "ok")).toBe(true);
              expect(r.invalid).toEqual([]);
              expect(r.missing).toBe(0);
              expect(r.extra).toBe(0);
              expect(r.stored).toBe(r.expectedStored);
              expect(r.duplicates).toBe(Math.round(40 * fraction));
              if (keys === "natural") expect(r.written - r.stored!).toBe(r.duplicates);
              else expect(r.stored).toBe(r.written);
            });
          }
        }
      }
    }
  });
}

// ---- beyond the round trip: variants, sizes, deletes, edge values -------------------------

function typedDataset(payload: string, fraction: number, units = 40): Dataset {
  return new Dataset(DatasetSpecSchema.parse({ payload, units, size: { min: 700, max: 700 }, fraction, insertion: "typed" }));
}

async function* batchesOf(ds: Dataset): AsyncIterable<Unit[]> {
  for (const b of ds.batches(64 * 1024)) yield b as Unit[];
}

const reading = (rs: SizeReading[], metric: string) => rs.find((x) => x.metric === metric);

describe("typed cells: variants, sizes and deletes", () => {
  const VARIANTS: Record<(typeof SYSTEMS)[number], string[]> = {
    postgres: ["external", "hash_index", "hash_index_nodedup"],
    cockroach: ["hash_index"],
    mariadb: ["page_compressed", "row_compressed"],
  };
  for (const name of SYSTEMS) {
    for (const variant of VARIANTS[name]) {
      it(`${name} ${variant}: round trip with natural keys`, async () => {
        const r = await typedRoundTrip(name, contractTarget(name).options, { payload: "structured_json", fraction: 0.5, keys: "natural", path: "bulk", units: 60, variant, lab });
        expect(r.invalid).toEqual([]);
        expect([r.missing, r.extra]).toEqual([0, 0]);
        expect(r.written - r.stored!).toBe(r.duplicates);
        expect(r.duplicates).toBe(30);
      });
    }

    for (const keys of ["surrogate", "natural"] as const) {
      it(`${name} ${keys}: bulk, sizes, then every unit deleted (duplicates of a deleted record find nothing)`, async () => {
        const def = systemDefinition(name);
        const ds = typedDataset("structured_json", 0.5);
        const system = def.create(contractTarget(name).options, lab);
        const cell: CellContext = {
          lab, cellKey: "t" + Math.random().toString(36).slice(2, 10), variant: Object.keys(def.capabilities.variants)[0]!,
          containers: ds.containers, workDir: "/tmp", log: () => {}, typed: { schema: ds.recordSchema!, keys },
        };
        await system.connect();
        try {
          await system.prepare(cell);
          expect((await system.bulkInsert(batchesOf(ds))).code).toBe("ok");
          await system.settle();
          expect(await system.storedRecords!()).toBe(keys === "natural" ? 20 : 40);
          const sizes = await system.sizes();
          if (name === "postgres") {
            // Every field byte arrived: the raw field bytes are the records' L0 bytes (the distinct ones with natural keys).
            const logical = keys === "natural" ? ds.totals.unique_bytes : ds.totals.logical_bytes;
            expect(reading(sizes, "pg_column_size_fields")?.primary).toBe(true);
            expect(reading(sizes, "octet_length_fields")?.bytes).toBe(logical);
            expect(reading(sizes, "pg_total_relation_size")?.bytes).toBeGreaterThan(0);
          }
          if (name === "mariadb") expect(reading(sizes, "allocated_size")?.bytes).toBeGreaterThan(0);
          for (const u of ds.units()) expect((await system.delete(u)).code).toBe("ok");
          await system.settle();
          expect(await system.storedRecords!()).toBe(0);
          // reset empties the table and starts the key bookkeeping afresh
          await system.reset();
          expect(await system.storedRecords!()).toBe(0);
        } finally {
          await system.cleanup(cell.cellKey);
          await system.close();
        }
      });
    }
  }
});
