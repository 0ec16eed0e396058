// The potential analysis' own logic (the cross-implementation checks against pyfastcdc,
// zstandard, lz4 and zlib are in test/integration/potential-reference.test.ts).
import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Dataset, DatasetSpecSchema } from "../../lib/generators/dataset.js";
import { FastCdc, fastCdcParams } from "../../lib/metrics/fastcdc.js";
import {
  analyzePotential, loadPotentialCodecs, PotentialAnalyzer, plainFixedUniqueBytes, potentialMetrics, sampleFractionFor, sizeLabel, type PotentialReport,
} from "../../lib/metrics/potential.js";

function units(payload: string, extra: Record<string, unknown> = {}): Buffer[] {
  const ds = new Dataset(DatasetSpecSchema.parse({ payload, units: 60, size: { min: 100, max: 90_000 }, fraction: 0.6, seed: "unit-potential", ...extra }));
  try {
    return [...ds.units()].map((u) => u.payload);
  } finally {
    ds.close();
  }
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Distinct bytes of CDC chunks the plain way: cut points, then a set of digests. */
function plainCdcUnique(us: Buffer[], avg: number): { unique: number; chunks: number } {
  const c = new FastCdc(avg);
  const seen = new Set<string>();
  let unique = 0;
  let chunks = 0;
  for (const u of us) {
    let prev = 0;
    for (const end of c.cutPointsJs(u)) {
      const piece = u.subarray(prev, end);
      chunks++;
      if (!seen.has(sha(piece))) {
        seen.add(sha(piece));
        unique += piece.length;
      }
      prev = end;
    }
  }
  return { unique, chunks };
}

describe("FastCDC", () => {
  const data = units("random_binary", { fraction: 0, units: 8, size: { min: 300_000, max: 300_000 } });
  it("the WebAssembly loop and the plain-JavaScript rule cut identically", () => {
    for (const avg of [256, 1024, 4096, 8192, 65536]) {
      const c = new FastCdc(avg);
      for (const u of data) expect(c.cutPoints(u)).toEqual(c.cutPointsJs(u));
    }
  });
  it("chunks cover the buffer; every chunk but the last is within [min, max]", () => {
    const c = new FastCdc(8192);
    for (const u of data) {
      const cuts = c.cutPoints(u);
      expect(cuts.at(-1)).toBe(u.length);
      cuts.forEach((end, i) => {
        const len = end - (i ? cuts[i - 1]! : 0);
        expect(len).toBeLessThanOrEqual(c.params.max);
        if (i < cuts.length - 1) expect(len).toBeGreaterThanOrEqual(c.params.min);
      });
    }
  });
  it("defaults: min = avg/4, max = 4·avg, NC 1; out-of-range sizes are refused", () => {
    expect(fastCdcParams(8192)).toEqual({ avg: 8192, min: 2048, max: 32768, normalization: 1 });
    expect(() => fastCdcParams(100)).toThrow(/outside/);
    expect(() => fastCdcParams(8192, { min: 10_000 })).toThrow(/outside/);
  });
  it("a short buffer is one chunk; an empty one none", () => {
    const c = new FastCdc(4096);
    expect(c.cutPoints(Buffer.alloc(500, 7))).toEqual([500]);
    expect(c.cutPoints(Buffer.alloc(0))).toEqual([]);
  });
});

describe("PotentialAnalyzer", () => {
  const cases: [string, Buffer[]][] = [
    ["file granularity", units("text_document")],
    ["block granularity", units("random_binary", { granularity: "block", blockSize: 4096, size: { min: 4096, max: 4096 * 30 } })],
  ];
  for (const [name, us] of cases) {
    it(`${name}: fixed-block and CDC distinct bytes equal the plain hash-and-count; chunk counts include duplicate units`, async () => {
      const fixedSizes = [4096, 8192, 65536, 12288, 1000];
      const r = await analyzePotential(us, { fixedSizes, cdcAverages: [4096, 16384], codecs: [] });
      const logical = us.reduce((a, u) => a + u.length, 0);
      expect(r.logical_bytes).toBe(logical);
      for (const f of r.fixed) {
        expect(f.unique_bytes).toBe(plainFixedUniqueBytes(us, f.block_size));
        expect(f.chunks).toBe(us.reduce((a, u) => a + Math.ceil(u.length / f.block_size), 0));
        expect(f.ratio).toBeCloseTo(logical / f.unique_bytes, 12);
      }
      for (const c of r.cdc) {
        const plain = plainCdcUnique(us, c.avg_size);
        expect(c.unique_bytes).toBe(plain.unique);
        expect(c.chunks).toBe(plain.chunks);
      }
      expect(r.unit.unique_bytes).toBe([...new Map(us.map((u) => [sha(u), u.length])).values()].reduce((a, v) => a + v, 0));
    });
  }

  it("file granularity: unit, fixed and CDC ratios all equal the manifest's ideal ratio when units share no content", async () => {
    const ds = new Dataset(DatasetSpecSchema.parse({ payload: "random_binary", units: 50, size: { min: 20_000, max: 20_000 }, fraction: 0.9, seed: "ideal" }));
    const r = await analyzePotential(ds.units(), { codecs: [] });
    expect(r.unit.ratio).toBeCloseTo(ds.totals.dedup_ratio, 12);
    for (const x of [...r.fixed, ...r.cdc]) expect(x.ratio).toBeCloseTo(ds.totals.dedup_ratio, 12);
    ds.close();
  });

  it("compression: distinct units only, in segments; a sample compresses an even share and extrapolates", async () => {
    const us = units("structured_json", { units: 80, size: { min: 20_000, max: 40_000 } });
    const all = await analyzePotential(us, { fixedSizes: [], cdcAverages: [], codecs: ["gzip-6", "lz4"] });
    const distinct = [...new Map(us.map((u) => [sha(u), u.length])).values()].reduce((a, v) => a + v, 0);
    expect(all.compression.codecs[0]!.input_bytes).toBe(distinct);
    expect(all.compression.segments).toBe(Math.ceil(distinct / (128 * 1024)));
    const half = await analyzePotential(us, { fixedSizes: [], cdcAverages: [], codecs: ["gzip-6"], compressionSample: 0.5 });
    expect(half.compression.sampled_segments).toBe(Math.floor(half.compression.segments * 0.5));
    expect(half.compression.codecs[0]!.ratio / all.compression.codecs[0]!.ratio).toBeGreaterThan(0.9);
    expect(half.compression.codecs[0]!.ratio / all.compression.codecs[0]!.ratio).toBeLessThan(1.1);
    const gz = all.compression.codecs[0]!;
    expect(gz.dedup_compress_ratio).toBeCloseTo(all.logical_bytes / (distinct / gz.ratio), 9);
    expect(sampleFractionFor(100, 1000)).toBe(1);
    expect(sampleFractionFor(4000, 1000)).toBe(0.25);
  });

  it("the chunk index (an int32 hash table of digest prefixes) counts like a Set, across many table growths", async () => {
    // 6000 distinct 4 KiB blocks (the table starts at 1024 slots), each unit repeating some of them.
    const blocks = Array.from({ length: 6000 }, () => randomBytes(4096));
    const us = Array.from({ length: 400 }, (_, i) => Buffer.concat([blocks[(i * 15) % 6000]!, ...blocks.slice(i * 15, i * 15 + 15), blocks[(i * 7) % 6000]!]));
    const r = await analyzePotential([...us, us[3]!, us[0]!], { fixedSizes: [4096, 8192], cdcAverages: [], codecs: [] });
    expect(r.fixed[0]!.unique_bytes).toBe(plainFixedUniqueBytes([...us, us[3]!, us[0]!], 4096));
    expect(r.fixed[0]!.unique_chunks).toBe(6000);
    expect(r.fixed[1]!.unique_bytes).toBe(plainFixedUniqueBytes([...us, us[3]!, us[0]!], 8192));
    expect(r.unit.unique_chunks).toBe(400);
  });

  it("with the worker thread (analyzePotential: zstd, DEFLATE, CDC chunk digests) = all on the calling thread (PotentialAnalyzer.finish)", async () => {
    const us = units("structured_json", { units: 30, size: { min: 20_000, max: 60_000 } });
    const opts = { compressionSegment: 32 * 1024, cdcAverages: [256, 1024, 4096] };
    const viaWorker = await analyzePotential(us, opts);
    await loadPotentialCodecs();
    const inline = new PotentialAnalyzer(opts);
    for (const u of us) inline.add(u);
    const here = inline.finish();
    expect(viaWorker.compression.segments).toBeGreaterThan(5);
    expect(viaWorker.cdc[0]!.chunks).toBeGreaterThan(1000);
    expect({ ...viaWorker, seconds: 0 }).toEqual({ ...here, seconds: 0 });
  });

  it("zstd levels 3 and 19 compress text (level 19 at least as well)", async () => {
    const us = units("text_document", { units: 10, fraction: 0 });
    const r = await analyzePotential(us, { fixedSizes: [], cdcAverages: [], codecs: ["zstd-3", "zstd-19"] });
    expect(r.compression.codecs[0]!.ratio).toBeGreaterThan(1.5);
    expect(r.compression.codecs[1]!.ratio).toBeGreaterThanOrEqual(r.compression.codecs[0]!.ratio);
  });

  it("result metrics: one name per quantity, units named", async () => {
    const r: PotentialReport = await analyzePotential(units("uuid_keys", { size: { min: 100, max: 2000 } }), { codecs: ["lz4"] });
    const m = potentialMetrics(r);
    const names = m.map((x) => x.metric);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain("potential_unit_ratio");
    expect(names).toContain("potential_fixed_ratio_4KiB");
    expect(names).toContain("potential_cdc_ratio_8KiB");
    expect(names).toContain("potential_cdc_chunk_p50_64KiB");
    expect(names).toContain("potential_dedup_compress_ratio_lz4");
    expect(names).toContain("potential_s");
    expect(sizeLabel(131072)).toBe("128KiB");
    expect(sizeLabel(1000)).toBe("1000B");
  });
});
