// lib/metrics/lz4.ts (the port of LZ4_compress_default): every block decodes back to its input
// with an independent decoder (lz4js), the format's edge sizes included. Byte identity with the
// reference library is checked against python-lz4 in test/integration/potential-reference.test.ts.
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { Dataset, DatasetSpecSchema } from "../../lib/generators/dataset.js";
import { LZ4_64K_LIMIT, lz4CompressBlock } from "../../lib/metrics/lz4.js";
import { lz4Size } from "../../lib/metrics/potential.js";

const lz4js = createRequire(import.meta.url)("lz4js") as {
  decompressBlock(src: Uint8Array, dst: Uint8Array, sIndex: number, sLength: number, dIndex: number): number;
};

function roundTrip(src: Uint8Array): number {
  const block = Uint8Array.from(lz4CompressBlock(src));
  const back = new Uint8Array(src.length + 64);
  const n = lz4js.decompressBlock(block, back, 0, block.length, 0);
  expect(n).toBe(src.length);
  expect(Buffer.from(back.subarray(0, n)).equals(Buffer.from(src))).toBe(true);
  return block.length;
}

describe("LZ4 block port", () => {
  it("round-trips edge sizes (below the minimum match input, long literal and match runs) and generator payloads", () => {
    let seed = 1;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 3;
    for (const len of [0, 1, 12, 13, 14, 15, 19, 270, 271, 4096, 65535, 65536, LZ4_64K_LIMIT - 1]) {
      roundTrip(Uint8Array.from({ length: len }, rnd));
      const same = roundTrip(new Uint8Array(len).fill(97));
      if (len > 1000) expect(same).toBeLessThan(len / 100);
    }
    for (const payload of ["text_document", "structured_json", "random_binary"]) {
      const ds = new Dataset(DatasetSpecSchema.parse({ payload, units: 4, size: { min: 30_000, max: 65_536 }, fraction: 0, seed: "lz4-unit" }));
      for (const u of ds.units()) {
        const n = roundTrip(u.payload);
        if (payload === "random_binary") expect(n).toBeGreaterThan(u.payload.length);
        else expect(n).toBeLessThan(u.payload.length * 0.8);
      }
      ds.close();
    }
  });

  it("a block at the 64 KiB + 11 limit is refused with the fix named", () => {
    expect(() => lz4CompressBlock(new Uint8Array(LZ4_64K_LIMIT))).toThrow(/64 KiB blocks/);
  });

  it("lz4Size is the LZ4 frame's size: header, per-block size words, raw blocks that do not shrink, end mark", () => {
    expect(lz4Size(new Uint8Array(0))).toBe(11);
    let x = 7;
    const noise = Uint8Array.from({ length: 100_000 }, () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) >>> 24);
    expect(lz4Size(noise)).toBe(11 + 2 * 4 + 100_000);
    expect(lz4Size(new Uint8Array(100_000))).toBe(11 + 4 + lz4CompressBlock(new Uint8Array(65536)).length + 4 + lz4CompressBlock(new Uint8Array(100_000 - 65536)).length);
  });
});
