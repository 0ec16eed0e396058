// Typed insertion (issue 14) on the embedded systems: every synthetic payload at U0 and U90, with
// surrogate and natural keys, through the bulk path and per record, into real SQLite (both journal
// modes), DuckDB and directory cells; counts exact and the round trip lossless.
import { describe, expect, it } from "vitest";
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
