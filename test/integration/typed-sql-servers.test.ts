// Typed insertion (issue 14) through the real local SQL servers (scripts/services.sh up postgres
// postgres-tls mariadb): PostgreSQL, the CockroachDB stand-in (TLS PostgreSQL) and MariaDB. Every synthetic payload × U0/U90 × surrogate/natural
// keys × bulk/per-record path: every record is stored (surrogate) or exactly the duplicates are
// rejected (natural), and reading the table back gives the generator's records, field for field.
import { describe, expect, it } from "vitest";
import { Dataset, DatasetSpecSchema } from "../../lib/generators/dataset.js";
import { encodeRecord, field, recordDigest, validateRecord, type RecordSchema, type RecordValues } from "../../lib/generators/records.js";
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
          for (const u of ds.refs()) expect((await system.delete(u)).code).toBe("ok");
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

// ---- edge values: what a careless mapping loses -----------------------------------------

describe("typed cells: edge values come back exactly", () => {
  const schema: RecordSchema = {
    name: "edge_values",
    key: "id",
    fields: [
      field("id", "int64"), field("f", "float64"), field("t", "text", true), field("u", "uuid"), field("ts", "timestamp"),
      field("j", "json"), field("b", "bytes"), field("ok", "bool"), field("n", "int64", true),
    ],
  };
  const finite: RecordValues[] = [
    [-(2n ** 63n), 1.7976931348623157e308, "ünïcødé ✓ 𝄞 'quote' \"dq\" back\\slash", "00000000-0000-0000-0000-000000000000", -1n, '{ "b" : 1,\n  "a":[1, 2.50, "x"] }', Buffer.alloc(0), false, null],
    [2n ** 63n - 1n, 2.5, "", "ffffffff-ffff-4fff-bfff-ffffffffffff", 1_704_067_200_123_456n, "[]", Buffer.from([0, 255, 0, 10, 13, 92]), true, 0n],
    [0n, 5e-324, null, "12345678-9abc-4def-8123-456789abcdef", -86_400_000_001n, '"text"', Buffer.alloc(70_000, 7), true, -1n],
    [7n, 0.1 + 0.2, "x".repeat(10_000), "0f0e0d0c-0b0a-4908-8706-050403020100", 253_402_300_799_999_999n, "null", Buffer.from("\\x41"), false, 42n],
  ];
  // NaN, ±Infinity and −0: PostgreSQL's double precision keeps them; MariaDB's DOUBLE cannot (NaN/±Inf refused, −0 stored as 0).
  const nonFinite: RecordValues[] = [
    [11n, -0, "negative zero", "dddddddd-dddd-4ddd-8ddd-dddddddddddd", 0n, "4", Buffer.from([4]), false, null],
    [8n, NaN, "nan", "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", 0n, "1", Buffer.from([1]), true, null],
    [9n, Infinity, "inf", "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb", 0n, "2", Buffer.from([2]), true, null],
    [10n, -Infinity, "-inf", "cccccccc-cccc-4ccc-8ccc-cccccccccccc", 0n, "3", Buffer.from([3]), true, null],
  ];

  function unitsOf(records: RecordValues[]): Unit[] {
    return records.map((values, i) => {
      const payload = encodeRecord(schema, values);
      validateRecord(schema, values);
      return { id: `u${String(i).padStart(7, "0")}`, index: i, size: payload.length, sha256: recordDigest(schema, values), group: i, container: 0, payload };
    });
  }

  for (const name of SYSTEMS) {
    // MariaDB's DOUBLE cannot hold NaN, ±Infinity or −0: there such a record must fail loudly (tested below), never be altered.
    const records = name === "mariadb" ? finite : [...finite, ...nonFinite];
    for (const keys of ["surrogate", "natural"] as const) {
      for (const path of ["bulk", "perfile"] as const) {
        it(`${name} ${keys} ${path}`, async () => {
          // MariaDB's DATETIME ends at 9999-12-31 23:59:59.999999, as does the last record's timestamp.
          const def = systemDefinition(name);
          const system = def.create(contractTarget(name).options, lab);
          const cell: CellContext = {
            lab, cellKey: "t" + Math.random().toString(36).slice(2, 10), variant: Object.keys(def.capabilities.variants)[0]!,
            containers: 1, workDir: "/tmp", log: () => {}, typed: { schema, keys },
          };
          const units = unitsOf(records);
          await system.connect();
          try {
            await system.prepare(cell);
            if (path === "bulk") {
              expect((await system.bulkInsert((async function* () { yield units; })())).code).toBe("ok");
            } else {
              for (const u of units) expect((await system.insert(u)).code).toBe("ok");
            }
            // a natural-key duplicate of the first record is rejected, on either path
            const dup = { ...units[0]!, id: "u9999999", index: 99 };
            if (keys === "natural") {
              if (path === "bulk") await system.bulkInsert((async function* () { yield [dup]; })());
              else await system.insert(dup);
            }
            expect(await system.storedRecords!()).toBe(records.length);
            const want = new Set(records.map((r) => recordDigest(schema, r).toString("hex")));
            const got: string[] = [];
            for await (const v of system.readRecords!()) {
              validateRecord(schema, v);
              got.push(recordDigest(schema, v).toString("hex"));
            }
            expect(got.sort()).toEqual([...want].sort());
          } finally {
            await system.cleanup(cell.cellKey);
            await system.close();
          }
        });
      }
    }
  }

  it("mariadb refuses −0, NaN and ±Infinity with an error naming the record", async () => {
    const def = systemDefinition("mariadb");
    const system = def.create(contractTarget("mariadb").options, lab);
    const cell: CellContext = { lab, cellKey: "t" + Math.random().toString(36).slice(2, 10), variant: "default", containers: 1, workDir: "/tmp", log: () => {}, typed: { schema, keys: "surrogate" } };
    await system.connect();
    try {
      await system.prepare(cell);
      const units = unitsOf(nonFinite);
      await expect(system.insert(units[0]!)).rejects.toThrow(/u0000000.*-0/);
      await expect(system.insert(units[1]!)).rejects.toThrow(/u0000001.*NaN/);
      await expect(system.bulkInsert((async function* () { yield units.slice(2); })())).rejects.toThrow(/u0000002.*Infinity/);
      expect(await system.storedRecords!()).toBe(0);
    } finally {
      await system.cleanup(cell.cellKey);
      await system.close();
    }
  });
});
