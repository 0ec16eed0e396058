// The WebAssembly cut loop (eight bytes per iteration, then two-byte steps up to each phase's
// end) against the plain-JavaScript rule on the same bytes, at every tail length around the
// unrolled loop's boundary; chunksAll (one copy for several chunkers) = each chunker alone; bytes
// in a cdcBuffer (cut in place, no copy) = the same bytes in an ordinary Buffer.
// Identity with the reference (pyfastcdc) is test/integration/potential-reference.test.ts.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { cdcBuffer, chunksAll, FastCdc, fastCdcParams } from "../../lib/metrics/fastcdc.js";

describe("FastCDC WebAssembly = plain JavaScript", () => {
  const chunkers = [
    new FastCdc(fastCdcParams(256, { min: 64, max: 1024 })),
    new FastCdc(fastCdcParams(1000, { min: 250, max: 4000, normalization: 0 })),
    new FastCdc(fastCdcParams(4096, { normalization: 2 })),
    new FastCdc(fastCdcParams(6000, { min: 1001, max: 20001, normalization: 3 })),
  ];

  it("every cut point, for buffer lengths around min, avg and max (odd and even) and a long buffer", () => {
    const data = randomBytes(300_000);
    for (const c of chunkers) {
      const { min, avg, max } = c.params;
      for (const base of [min, avg, max])
        for (let d = -9; d <= 9; d++) {
          const b = data.subarray(0, Math.max(0, base + d));
          expect(c.cutPoints(b), `avg ${avg} length ${b.length}`).toEqual(c.cutPointsJs(b));
        }
      expect(c.cutPoints(data)).toEqual(c.cutPointsJs(data));
    }
  });

  it("chunksAll gives each chunker its own chunks, in order", () => {
    const data = randomBytes(200_001);
    const got: number[][] = chunkers.map(() => []);
    chunksAll(chunkers, data, (k, o, n) => got[k]!.push(o + n));
    chunkers.forEach((c, k) => expect(got[k]).toEqual(c.cutPointsJs(data)));
  });

  it("a view into a cdcBuffer is cut in place, like the same bytes in a Buffer, at any offset", () => {
    const data = randomBytes(150_001);
    const arena = cdcBuffer(data.length + 4099);
    for (const at of [0, 1, 4099]) {
      arena.fill(0);
      arena.set(data, at);
      const view = arena.subarray(at, at + data.length);
      for (const c of chunkers) expect(c.cutPoints(view), `avg ${c.params.avg} at ${at}`).toEqual(c.cutPointsJs(data));
      const got: number[][] = chunkers.map(() => []);
      chunksAll(chunkers, view, (k, o, n) => got[k]!.push(o + n));
      chunkers.forEach((c, k) => expect(got[k]).toEqual(c.cutPointsJs(data)));
    }
    // The shared instance (copied buffers) and a second cdcBuffer do not disturb it.
    const other = cdcBuffer(1000);
    other.set(data.subarray(0, 1000));
    expect(chunkers[0]!.cutPoints(other)).toEqual(chunkers[0]!.cutPointsJs(data.subarray(0, 1000)));
    expect(chunkers[0]!.cutPoints(arena.subarray(4099, 4099 + data.length))).toEqual(chunkers[0]!.cutPointsJs(data));
  });
});
