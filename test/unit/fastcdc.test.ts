// The WebAssembly cut loop (eight bytes per iteration, then two-byte steps up to each phase's
// end) against the plain-JavaScript rule on the same bytes, at every tail length around the
// unrolled loop's boundary; chunksAll (one copy for several chunkers) = each chunker alone.
// Identity with the reference (pyfastcdc) is test/integration/potential-reference.test.ts.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { chunksAll, FastCdc, fastCdcParams } from "../../lib/metrics/fastcdc.js";

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
});
