// Typed insertion (issue 14) on the embedded systems: every synthetic payload at U0 and U90, with
// surrogate and natural keys, through the bulk path and per record, into real SQLite (both journal
// modes), DuckDB and directory cells; counts exact and the round trip lossless.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Dataset, DatasetSpecSchema } from "../../lib/generators/dataset.js";
import { field, recordsEqual, type RecordSchema, type RecordValues } from "../../lib/generators/records.js";
import type { CellContext, Unit } from "../../lib/systems/contract.js";
import { decodeRecordFile, encodeRecordFile } from "../../lib/systems/directory/directory-typed.js";
import { SqliteTypedLayout } from "../../lib/systems/sqlite/sqlite-typed.js";
import { LabNamespace } from "../../lib/systems/namespace.js";
import { systemDefinition } from "../../lib/systems/registry.js";
import { TYPED_PAYLOADS, typedRoundTrip } from "../helpers/typed-harness.js";

const SYSTEMS: { name: string; variants: string[] }[] = [
  { name: "sqlite", variants: ["rollback", "wal"] },
  { name: "duckdb", variants: ["default"] },
  { name: "directory", variants: ["default"] },
];

for (const sys of SYSTEMS) {
  describe(`typed cells on ${sys.name}`, () => {
    for (const payload of TYPED_PAYLOADS) {
      for (const fraction of [0, 0.9]) {
        for (const keys of ["surrogate", "natural"] as const) {
          for (const path of ["bulk", "perfile"] as const) {
            // Both journal modes on the bulk path; per record once (rollback) to stay fast.
            const variants = path === "bulk" ? sys.variants : sys.variants.slice(0, 1);
            for (const variant of variants) {
              it(`${payload} U${fraction * 100} ${keys} ${path} ${variant}`, async () => {
                const r = await typedRoundTrip(sys.name, {}, { payload, fraction, keys, path, variant, units: 40, bytes: 512 });
                expect(r.statuses.every((s) => s.code === "ok")).toBe(true);
                expect(r.written).toBe(40);
                expect(r.duplicates).toBe(Math.round(40 * fraction));
                expect(r.invalid).toEqual([]);
                expect(r.missing).toBe(0);
                expect(r.extra).toBe(0);
                expect(r.stored).toBe(r.expectedStored);
                if (keys === "surrogate") {
                  expect(r.stored).toBe(40);
                } else {
                  expect(r.collision).not.toBe("kept");
                  expect(r.written - r.stored!).toBe(r.duplicates);
                }
              });
            }
          }
        }
      }
    }
  });
}

// Many batches (cross-batch duplicates), the per-stage lifecycle the runner drives (insert, counted
// collisions, sizes, delete every unit, reset), and placement across containers, where a natural key
// is unique per container (table or directory) only.
async function lifecycle(name: string, o: { payload: string; keys: "surrogate" | "natural"; placement: "within" | "across"; units: number; path: "bulk" | "perfile" }) {
  const def = systemDefinition(name);
  const lab = new LabNamespace();
  const system = def.create({}, lab);
  const dataset = new Dataset(DatasetSpecSchema.parse({
    payload: o.payload, units: o.units, size: { min: 1024, max: 1024 }, fraction: 0.9, insertion: "typed", placement: o.placement,
  }));
  const workDir = mkdtempSync(join(tmpdir(), "dedup-lab-typed-life-"));
  const cell: CellContext = {
    lab, cellKey: "t" + Math.random().toString(36).slice(2, 10), variant: Object.keys(def.capabilities.variants)[0]!,
    containers: dataset.containers, workDir, log: () => {}, typed: { schema: dataset.recordSchema!, keys: o.keys },
  };
  // Records a correct system holds: all, or one per distinct record per container (natural keys).
  const perContainer = new Set(Array.from(dataset.units(), (u) => `${u.container}/${u.sha256.toString("hex")}`));
  const expected = o.keys === "surrogate" ? dataset.length : perContainer.size;
  await system.connect();
  try {
    await system.prepare(cell);
    if (o.path === "bulk") {
      let batches = 0;
      expect((await system.bulkInsert((async function* () {
        for (const b of dataset.batches(16 * 1024)) {
          batches++;
          yield b as Unit[];
        }
      })())).code).toBe("ok");
      expect(batches).toBeGreaterThan(5);
    } else {
      for (const u of dataset.units()) expect((await system.insert(u)).code).toBe("ok");
    }
    expect((await system.settle()).code).toBe("ok");
    expect(await system.storedRecords!()).toBe(expected);
    const snap = (await system.snapshot()) as { typed: Record<string, number | string> };
    const collided = o.keys === "natural" ? dataset.length - expected : 0;
    expect(snap.typed[system.capabilities.typed!.collision === "replaced" ? "replaced_duplicates" : "rejected_duplicates"]).toBe(collided);
    const sizes = await system.sizes();
    for (const layer of ["L1", "L2"] as const) {
      const p = sizes.find((s) => s.layer === layer && s.primary);
      expect(p?.bytes).toBeGreaterThan(0);
    }
    // Deletes by the runner's refs: each carries its record, and whether its natural key is gone already.
    const refs = [...dataset.refs()];
    expect(refs.filter((r) => o.keys === "natural" && r.record!.repeatInContainer)).toHaveLength(collided);
    for (const r of refs) expect((await system.delete(r)).code).toBe("ok");
    await system.settle();
    expect(await system.storedRecords!()).toBe(0);
    // Exact, not lenient: a first delete that finds nothing is an error.
    await expect(system.delete(refs[0]!)).rejects.toThrow(new RegExp(`^${name} at .*(removed 0 rows \\(expected 1\\)|ENOENT)`));
    await system.reset();
    expect(await system.storedRecords!()).toBe(0);
    return { expected, collided };
  } finally {
    await system.cleanup(cell.cellKey);
    await system.close();
    expect(readdirSync(workDir)).toEqual([]);
    rmSync(workDir, { recursive: true, force: true });
  }
}

for (const sys of SYSTEMS) {
  describe(`typed lifecycle on ${sys.name}`, () => {
    for (const keys of ["surrogate", "natural"] as const) {
      it(`400 records, many batches, ${keys}: counted collisions, sizes, every unit deleted, reset, cleanup`, async () => {
        const r = await lifecycle(sys.name, { payload: "random_binary", keys, placement: "within", units: 400, path: "bulk" });
        expect(r.collided).toBe(keys === "natural" ? 360 : 0);
      });
      for (const path of ["bulk", "perfile"] as const) {
        it(`placement across 4 containers, ${path}, ${keys} keys (a natural key is unique within its container only)`, async () => {
          const r = await lifecycle(sys.name, { payload: "structured_json", keys, placement: "across", units: path === "bulk" ? 800 : 200, path });
          if (keys === "natural") expect(r.collided).toBeGreaterThan(0);
        });
      }
    }
  });
}

describe("typed encodings of values the synthetic payloads do not generate", () => {
  const schema: RecordSchema = {
    name: "edge", key: "k",
    fields: [field("k", "int64"), field("f", "float64"), field("t", "timestamp", true), field("b", "bytes"), field("j", "json"), field("u", "uuid", true), field("x", "bool")],
  };
  it("directory record files keep int64 extremes, NaN, ±Infinity, -0, empty bytes, JSON whitespace and nulls exactly", () => {
    for (const f of [NaN, Infinity, -Infinity, -0, 5e-324, 0.1]) {
      const values: RecordValues = [-(2n ** 63n), f, 2n ** 63n - 1n, Buffer.alloc(0), '{ "b" : [1,  2], "a":null }', null, false];
      const back = decodeRecordFile(schema, encodeRecordFile(schema, values));
      expect(recordsEqual(schema, back, values)).toBe(true);
    }
  });
  it("sqlite refuses a float64 NaN or -0 loudly instead of storing NULL or 0", () => {
    const l = new SqliteTypedLayout(schema, "natural");
    for (const f of [NaN, -0]) {
      expect(() => l.row(1n, [1n, f, null, Buffer.alloc(1), "{}", null, true])).toThrow(/REAL column cannot hold/);
    }
    expect(l.row(1n, [1n, Infinity, null, Buffer.alloc(1), "{}", null, true])).toHaveLength(7);
  });
});
