// The bulk input feeder (a worker thread, payloads transferred): it yields exactly the units the
// generator makes — ids, order, hashes, bytes, groups, containers — in batches of the same
// bounds, for pooled small payloads (< 4 KiB, copied out of Node's pool) and payloads with their
// own buffer (transferred as they are), and each payload is a Buffer of its own.
import { describe, expect, it } from "vitest";
import { Dataset, DatasetSpecSchema } from "../../lib/generators/dataset.js";
import { BatchFeeder } from "../../lib/runner/batch-feeder.js";

describe("BatchFeeder", () => {
  for (const [label, size] of [["pooled 100 B–3 KiB", { min: 100, max: 3000 }], ["own-buffer 8–64 KiB", { min: 8192, max: 65536 }]] as const) {
    it(`${label} units: the generator's units, in its batches, each payload its own buffer`, async () => {
      const spec = DatasetSpecSchema.parse({ payload: "random_binary", units: 60, size, fraction: 0.5, containers: 3, placement: "across" });
      const batchBytes = 16 * 1024;
      const ds = new Dataset(spec);
      const expected = [...ds.batches(batchBytes)];
      ds.close();
      const feeder = await BatchFeeder.start(spec, batchBytes, { depth: 2 });
      const got = [];
      try {
        for await (const b of feeder) got.push(b);
      } finally {
        await feeder.close();
      }
      expect(got.map((b) => b.map((u) => u.id))).toEqual(expected.map((b) => b.map((u) => u.id)));
      const flat = got.flat();
      expected.flat().forEach((u, i) => {
        const g = flat[i]!;
        expect({ index: g.index, size: g.size, group: g.group, container: g.container }).toEqual({ index: u.index, size: u.size, group: u.group, container: u.container });
        expect(g.sha256.equals(u.sha256)).toBe(true);
        expect(g.payload.equals(u.payload)).toBe(true);
        expect(g.payload.byteOffset === 0 && g.payload.buffer.byteLength === g.size, "a buffer of its own").toBe(true);
      });
      expect(new Set(flat.map((u) => u.container)).size).toBe(3);
    });
  }
});
