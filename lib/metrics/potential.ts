// Deduplication and compression *potential* of a stream of units: what an ideal fixed-block
// deduplicator, a content-defined (FastCDC 2020) deduplicator and four compressors could
// remove from the same bytes a system is given. Pure computation over payload Buffers (this
// room does not know the generators' Unit type; a Unit fits `PotentialItem` structurally).
//
// Definitions (README, "Deduplication potential"):
// - Every unit is chunked on its own, from its first byte (a file / row / object is its own
//   stream; no chunk spans two units). Fixed blocks: consecutive `size` bytes, the unit's
//   last block may be shorter. CDC: FastCDC 2020 cut points (lib/metrics/fastcdc.ts).
// - A chunk is a duplicate iff its SHA-256 equals an earlier chunk's (the chunk index holds
//   128-bit digest prefixes, one entry per distinct chunk). ratio = logical bytes / bytes of
//   distinct chunks (≥ 1; 1 = nothing to deduplicate).
// - Unit level: distinct units by SHA-256 (the manifest's ideal ratio, recomputed from bytes);
//   a unit without a given digest is keyed by the SHA-256 of its smallest fixed blocks' digests
//   (equal iff the bytes are equal; the blocks are hashed anyway).
// - Compression: the distinct units, concatenated in stream order and cut into independent
//   segments of `compressionSegment` bytes (default 128 KiB, a storage record / extent), each
//   segment compressed alone; ratio = uncompressed / compressed bytes of the segments
//   compressed. `compressionSample` < 1 compresses an evenly spread fraction of segments
//   (segment i when ⌊(i+1)·f⌋ > ⌊i·f⌋) and extrapolates. dedup+compress = logical bytes /
//   (unit-unique bytes / compression ratio).
// A unit byte-identical to an earlier one is not chunked again: its chunks are all duplicates,
// only the chunk counts grow. Larger fixed blocks are derived from the smallest one when they are multiples of it (the
// digest of a large block is the digest of its small blocks' digests: equal iff all its small
// blocks are equal), so the data is hashed once for all fixed sizes.
import { hash, createHash } from "node:crypto";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { chunksAll, FastCdc, fastCdcParams, type NormalizationLevel } from "./fastcdc.js";
import { lz4CompressBlock } from "./lz4.js";
import { quantileSorted } from "./stats.js";

const require = createRequire(import.meta.url);

export const POTENTIAL_VERSION = "dedup-lab-potential/1";
export const KiB = 1024;
export const DEFAULT_FIXED_SIZES = [4, 8, 16, 64, 128].map((k) => k * KiB);
export const DEFAULT_CDC_AVERAGES = [4, 8, 16, 64].map((k) => k * KiB);
export const DEFAULT_SEGMENT = 128 * KiB;
/** LZ4 frames of independent 64 KiB blocks (the LZ4 frame default block size). */
export const LZ4_BLOCK = 64 * KiB;

export type CodecName = "zstd-3" | "zstd-19" | "lz4" | "gzip-6";
export const DEFAULT_CODECS: CodecName[] = ["zstd-3", "zstd-19", "lz4", "gzip-6"];

export interface PotentialOptions {
  fixedSizes: number[];
  cdcAverages: number[];
  /** Normalized chunking level for every CDC size (default 1). */
  normalization: NormalizationLevel;
  codecs: CodecName[];
  compressionSegment: number;
  /** Fraction (0, 1] of compression segments compressed (the rest extrapolated). */
  compressionSample: number;
}

export const DEFAULT_POTENTIAL_OPTIONS: PotentialOptions = {
  fixedSizes: DEFAULT_FIXED_SIZES,
  cdcAverages: DEFAULT_CDC_AVERAGES,
  normalization: 1,
  codecs: DEFAULT_CODECS,
  compressionSegment: DEFAULT_SEGMENT,
  compressionSample: 1,
};

/** A unit's bytes, with its SHA-256 when the caller has it already (a generator Unit fits). */
export interface PotentialItem {
  payload: Uint8Array;
  sha256?: Uint8Array;
}

export interface ChunkingPotential {
  chunks: number;
  unique_chunks: number;
  unique_bytes: number;
  /** logical bytes / unique bytes. */
  ratio: number;
}

export interface SizeDistribution {
  count: number;
  mean: number;
  min: number;
  p10: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface FixedPotential extends ChunkingPotential {
  block_size: number;
}

export interface CdcPotential extends ChunkingPotential {
  avg_size: number;
  min_size: number;
  max_size: number;
  normalization: number;
  /** Sizes of the chunks of the distinct units (a duplicate unit's chunks are its original's). */
  chunk_size: SizeDistribution;
}

export interface CodecPotential {
  codec: CodecName;
  /** Bytes compressed (the sampled segments). */
  input_bytes: number;
  output_bytes: number;
  /** input / output of the compressed segments. */
  ratio: number;
  /** logical bytes / (unit-unique bytes / ratio). */
  dedup_compress_ratio: number;
}

export interface PotentialReport {
  version: string;
  units: number;
  logical_bytes: number;
  unit: ChunkingPotential;
  fixed: FixedPotential[];
  cdc: CdcPotential[];
  compression: {
    segment_bytes: number;
    sample_fraction: number;
    segments: number;
    sampled_segments: number;
    codecs: CodecPotential[];
  };
  /** Wall time of the analysis (s). */
  seconds: number;
}

// ------------------------------------------------------------------------------ codecs
// Each codec is the reference implementation the Python reference test uses (the same
// algorithm and parameters, so the same bytes out; test/integration/potential-reference.test.ts):
// - zstd: @bokuweb/zstd-wasm 0.0.27, the zstd C library compiled to WebAssembly, the .wasm file
//   inside the package (no native build, no download at install; Node 20 has no zstd); its
//   frames have python-zstandard 0.25's (zstd 1.5.7) sizes at levels 3 and 19. zstd-codec (Kafka's
//   codec) bundles an older zstd whose level-19 output is 1 % larger; @hpcc-js/wasm-zstd (zstd
//   1.5.7, also equal) compresses 30× slower here (9 MB/s at level 3).
// - gzip: pako 1.0.11, a port of zlib's deflate that writes zlib's bytes. node:zlib is
//   Chromium's zlib fork, whose match finder differs (up to −3.7 % size on JSON).
// - lz4: lib/metrics/lz4.ts, a port of LZ4_compress_default (npm has no faithful one).

interface ZstdWasm {
  init(): Promise<void>;
  compress(data: Uint8Array, level?: number): Uint8Array;
}
interface Pako {
  deflateRaw(data: Uint8Array, opts: { level: number }): Uint8Array;
}

let zstdPromise: Promise<void> | undefined;
let zstd: ZstdWasm | undefined;
const pako = require("pako") as Pako;

/** Load the zstd WebAssembly module (once); call before analysing with a zstd codec. */
export function loadPotentialCodecs(): Promise<void> {
  zstdPromise ??= (async () => {
    const z = require("@bokuweb/zstd-wasm") as ZstdWasm;
    await z.init();
    zstd = z;
  })();
  return zstdPromise;
}

/**
 * Size of `seg` as an LZ4 frame of independent 64 KiB blocks, no checksums, no content size
 * (lz4 -B4 -BI --no-frame-crc; python lz4.frame with block_linked=False): 7 header bytes, per
 * block a 4-byte size and the block (stored raw when it does not shrink), a 4-byte end mark.
 */
export function lz4Size(seg: Uint8Array): number {
  let total = 7 + 4;
  for (let i = 0; i < seg.length; i += LZ4_BLOCK) {
    const len = Math.min(LZ4_BLOCK, seg.length - i);
    total += 4 + Math.min(len, lz4CompressBlock(seg, i, len).length);
  }
  return total;
}

function zstdSize(seg: Uint8Array, level: number): number {
  if (!zstd) throw new Error("zstd codec not loaded: await loadPotentialCodecs() first");
  return zstd.compress(seg, level).length;
}

/** Compressed size of one segment: a zstd frame, an LZ4 frame, raw DEFLATE (zlib level 6, windowBits 15, memLevel 8; no gzip header). */
export function compressedSize(codec: CodecName, seg: Uint8Array): number {
  switch (codec) {
    case "zstd-3":
      return zstdSize(seg, 3);
    case "zstd-19":
      return zstdSize(seg, 19);
    case "lz4":
      return lz4Size(seg);
    case "gzip-6":
      return pako.deflateRaw(seg, { level: 6 }).length;
  }
}

/**
 * A second thread for `analyzePotential` (a 2-core machine runs both at once): zstd and DEFLATE
 * of the sampled segments (they cost as much as all the hashing and cutting of a dataset:
 * zstd-19 and DEFLATE run at 1–20 MB/s), and the SHA-256 of the CDC chunks of those units the
 * calling thread hands over while the worker is not busy (the calling thread cuts, hashes the
 * fixed blocks and keeps every index). Plain JavaScript (it runs the same from the TypeScript
 * sources and from dist) with the same packages and parameters as `compressedSize` and
 * `sha256`; lz4 (lib/metrics/lz4.ts) stays on the calling thread.
 */
const WORKER_CODECS: readonly CodecName[] = ["zstd-3", "zstd-19", "gzip-6"];
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { hash } = require("node:crypto");
const zstd = require(workerData.zstd);
const pako = require(workerData.pako);
// Tasks run one after the other, in order; done[0] = id + 1 of the last one finished (the calling
// thread reads it without waiting for the answers, which it only receives between its units).
const done = new Int32Array(workerData.done);
let initError;
let chain = zstd.init().catch((e) => { initError = e; });
parentPort.on("message", (m) => {
  chain = chain.then(() => run(m));
});
async function run(m) {
  try {
    if (m.lens) {
      // CDC chunks of m.buf, sizes after sizes (the offset restarts at each size's end): 16-byte digest prefixes.
      const out = new Uint8Array(16 * m.lens.length);
      let off = 0;
      for (let i = 0; i < m.lens.length; i++) {
        const n = m.lens[i];
        out.set(hash("sha256", m.buf.subarray(off, off + n), "buffer").subarray(0, 16), 16 * i);
        off += n;
        if (off === m.buf.length) off = 0;
      }
      parentPort.postMessage({ id: m.id, digests: out }, [out.buffer]);
    } else {
      if (initError) throw initError;
      const out = m.codecs.map((c) =>
        c === "zstd-3" ? zstd.compress(m.seg, 3).length : c === "zstd-19" ? zstd.compress(m.seg, 19).length : pako.deflateRaw(m.seg, { level: 6 }).length);
      parentPort.postMessage({ id: m.id, out });
    }
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String(e && e.stack || e) });
  }
  Atomics.store(done, 0, m.id + 1);
}
`;
/** Work estimate of a compression byte against a hashed byte (zstd-19 and DEFLATE vs SHA-256). */
const COMPRESS_COST = 100;
/** The calling thread hashes a unit's CDC chunks itself while the worker has more than this queued (hashed-byte equivalents). */
const HANDOVER_COST = 8 << 20;

interface Waiting {
  resolve: (m: { out?: number[]; digests?: Uint8Array }) => void;
  reject: (e: Error) => void;
}

class HelperWorker {
  private readonly worker: Worker;
  private nextId = 0;
  private readonly waiting = new Map<number, Waiting>();
  private failed: Error | undefined;
  /** id + 1 of the last task the worker finished (written by the worker). */
  private readonly done = new Int32Array(new SharedArrayBuffer(4));
  /** Prefix sums over task ids of bytes posted (memory) and work (hashed-byte equivalents). */
  private readonly sumBytes: number[] = [0];
  private readonly sumCost: number[] = [0];

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { zstd: require.resolve("@bokuweb/zstd-wasm"), pako: require.resolve("pako"), done: this.done.buffer } });
    this.worker.on("message", (m: { id: number; out?: number[]; digests?: Uint8Array; error?: string }) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.error !== undefined) w.reject(new Error(`potential worker: ${m.error}`));
      else w.resolve(m);
    });
    const fail = (e: Error) => {
      this.failed ??= e;
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => fail(new Error(`potential worker exited (${code})`)));
  }

  private post(msg: object, transfer: ArrayBuffer[], bytes: number, cost: number): Promise<{ out?: number[]; digests?: Uint8Array }> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    this.sumBytes.push(this.sumBytes[id]! + bytes);
    this.sumCost.push(this.sumCost[id]! + cost);
    const p = new Promise<{ out?: number[]; digests?: Uint8Array }>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    this.worker.postMessage({ id, ...msg }, transfer);
    return p;
  }

  /** Compressed sizes of `seg` by each codec. */
  async sizes(seg: Uint8Array, codecs: CodecName[]): Promise<number[]> {
    const copy = new Uint8Array(seg); // a copy of the view alone (a view's whole ArrayBuffer would be cloned; Buffer#slice copies nothing)
    return (await this.post({ seg: copy, codecs }, [copy.buffer], copy.length, copy.length * COMPRESS_COST)).out!;
  }

  /** Bytes with the worker, not yet done. */
  backlog(): number {
    return this.sumBytes[this.nextId]! - this.sumBytes[Atomics.load(this.done, 0)]!;
  }

  /** Whether the worker has room for more hashing. */
  idle(): boolean {
    return !this.failed && this.sumCost[this.nextId]! - this.sumCost[Atomics.load(this.done, 0)]! <= HANDOVER_COST;
  }

  /** 16-byte SHA-256 prefixes of the chunks of `buf` with lengths `lens` (size after size). */
  async digests(buf: Uint8Array, lens: Uint32Array, sizes: number): Promise<Uint8Array> {
    const copy = new Uint8Array(buf);
    return (await this.post({ buf: copy, lens }, [copy.buffer, lens.buffer as ArrayBuffer], copy.length, copy.length * sizes)).digests!;
  }

  /** Resolves once at most `bytes` are in flight (or the worker failed). */
  async drain(bytes: number): Promise<void> {
    while (!this.failed && this.backlog() > bytes) await new Promise<void>((r) => setTimeout(r, 1));
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners("exit");
    await this.worker.terminate();
  }
}

// ------------------------------------------------------------------------------ analyzer

function sha256(b: Uint8Array): Buffer {
  return hash("sha256", b, "buffer") as unknown as Buffer;
}

/** Little-endian 32-bit word of d at o. */
function word(d: Uint8Array, o: number): number {
  return d[o]! | (d[o + 1]! << 8) | (d[o + 2]! << 16) | (d[o + 3]! << 24);
}

/**
 * The chunk index: the 128-bit digest prefixes of the distinct chunks in an open-addressing
 * hash table of int32 quadruples (no string per key; the first word, uniform for SHA-256,
 * picks the bucket), each with its ordinal (0, 1, … in order of first appearance).
 */
class ChunkIndex {
  private keys = new Int32Array(4 * 1024);
  private ords = new Int32Array(1024);
  private mask = 1023;
  private distinct = 0;
  /** Ordinal of the all-zero prefix (an empty slot is all zero), or −1. */
  private zeroOrd = -1;
  chunks = 0;
  uniqueBytes = 0;

  /** Count one chunk of `len` bytes with digest d[o, o + 16): −1 when new, else the ordinal of its first appearance. */
  add(d: Uint8Array, o: number, len: number): number {
    this.chunks++;
    const k0 = word(d, o);
    const k1 = word(d, o + 4);
    const k2 = word(d, o + 8);
    const k3 = word(d, o + 12);
    if ((k0 | k1 | k2 | k3) === 0) {
      if (this.zeroOrd >= 0) return this.zeroOrd;
      this.zeroOrd = this.distinct++;
      this.uniqueBytes += len;
      return -1;
    }
    const keys = this.keys;
    const mask = this.mask;
    for (let i = k0 & mask; ; i = (i + 1) & mask) {
      const j = i << 2;
      const a = keys[j]!;
      const b = keys[j + 1]!;
      const c = keys[j + 2]!;
      const e = keys[j + 3]!;
      if (a === k0 && b === k1 && c === k2 && e === k3) return this.ords[i]!;
      if ((a | b | c | e) === 0) {
        keys[j] = k0;
        keys[j + 1] = k1;
        keys[j + 2] = k2;
        keys[j + 3] = k3;
        this.ords[i] = this.distinct++;
        this.uniqueBytes += len;
        if (2 * this.distinct > mask) this.grow();
        return -1;
      }
    }
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldOrds = this.ords;
    const cap = 2 * (this.mask + 1);
    const mask = cap - 1;
    const keys = new Int32Array(4 * cap);
    const ords = new Int32Array(cap);
    for (let i = 0; i < oldOrds.length; i++) {
      const j = i << 2;
      const k0 = oldKeys[j]!;
      if ((k0 | oldKeys[j + 1]! | oldKeys[j + 2]! | oldKeys[j + 3]!) === 0) continue;
      let n = k0 & mask;
      while ((keys[n << 2]! | keys[(n << 2) + 1]! | keys[(n << 2) + 2]! | keys[(n << 2) + 3]!) !== 0) n = (n + 1) & mask;
      keys.set(oldKeys.subarray(j, j + 4), n << 2);
      ords[n] = oldOrds[i]!;
    }
    this.keys = keys;
    this.ords = ords;
    this.mask = mask;
  }

  result(logical: number): ChunkingPotential {
    return { chunks: this.chunks, unique_chunks: this.distinct, unique_bytes: this.uniqueBytes, ratio: ratio(logical, this.uniqueBytes) };
  }
}

function ratio(a: number, b: number): number {
  return b > 0 ? a / b : a === 0 ? 1 : Number.NaN;
}

/** Growable Uint32 list (chunk sizes). */
class U32List {
  data = new Uint32Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const d = new Uint32Array(this.data.length * 2);
      d.set(this.data);
      this.data = d;
    }
    this.data[this.length++] = v;
  }
}

function distribution(list: U32List): SizeDistribution {
  const s = Float64Array.from(list.data.subarray(0, list.length)).sort();
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += s[i]!;
  const n = s.length;
  return {
    count: n,
    mean: n ? sum / n : Number.NaN,
    min: n ? s[0]! : Number.NaN,
    p10: quantileSorted(s, 0.1),
    p50: quantileSorted(s, 0.5),
    p90: quantileSorted(s, 0.9),
    p99: quantileSorted(s, 0.99),
    max: n ? s[n - 1]! : Number.NaN,
  };
}

/**
 * Streaming analysis: `add()` every unit in order, then `finish()`. Memory: the chunk indexes
 * (one entry per distinct chunk), the chunk-size lists (4 bytes per chunk) and one compression
 * segment; units are read in place and not kept. Call `loadPotentialCodecs()` before (zstd).
 */
export class PotentialAnalyzer {
  readonly opts: PotentialOptions;
  private units = 0;
  private logical = 0;
  /** Distinct units; a unit's ordinal is its slot in cdcCounts (CDC chunk counts per average size). */
  private readonly unitIndex = new ChunkIndex();
  private readonly cdcCounts = new U32List();
  private readonly base: number;
  private readonly fixed: { size: number; k: number; index: ChunkIndex }[];
  private readonly cdc: { chunker: FastCdc; index: ChunkIndex; sizes: U32List }[];
  private readonly chunkers: FastCdc[];
  private digestArena = Buffer.alloc(32 * 1024);
  /** Unit keys derived from block digests (set by the first unit; see add). */
  private derivedKeys: boolean | undefined;
  private readonly segment: Buffer;
  private segFill = 0;
  private segCount = 0;
  private sampledSegments = 0;
  private readonly codecIn: number[];
  private readonly codecOut: number[];
  private readonly started = performance.now();
  /** zstd and DEFLATE on a second thread (`analyzePotential`), answers pending here. */
  private offload: HelperWorker | undefined;
  private readonly pending: Promise<void>[] = [];
  /** Chunk lengths of one unit, size after size (handed to the worker). */
  private readonly lens = new U32List();

  constructor(opts: Partial<PotentialOptions> = {}) {
    this.opts = { ...DEFAULT_POTENTIAL_OPTIONS, ...opts };
    const { fixedSizes, cdcAverages, compressionSample, compressionSegment } = this.opts;
    if (!(compressionSample > 0 && compressionSample <= 1)) throw new RangeError(`compression sample ${compressionSample} is outside (0, 1]`);
    if (!(compressionSegment >= 4 * KiB)) throw new RangeError(`compression segment ${compressionSegment} is below 4 KiB`);
    for (const s of fixedSizes) if (!(Number.isInteger(s) && s >= 512)) throw new RangeError(`fixed block size ${s} must be an integer ≥ 512`);
    this.base = fixedSizes.length ? Math.min(...fixedSizes) : 0;
    this.fixed = [...fixedSizes].sort((a, b) => a - b).map((size) => ({ size, k: size % this.base === 0 ? size / this.base : 0, index: new ChunkIndex() }));
    this.cdc = [...cdcAverages].sort((a, b) => a - b).map((avg) => ({
      chunker: new FastCdc(fastCdcParams(avg, { normalization: this.opts.normalization })),
      index: new ChunkIndex(),
      sizes: new U32List(),
    }));
    this.chunkers = this.cdc.map((c) => c.chunker);
    this.segment = Buffer.alloc(compressionSegment);
    this.codecIn = this.opts.codecs.map(() => 0);
    this.codecOut = this.opts.codecs.map(() => 0);
    if (this.opts.codecs.some((c) => c.startsWith("zstd")) && !zstd) throw new Error("zstd codec not loaded: await loadPotentialCodecs() first");
  }

  add(item: Uint8Array | PotentialItem): void {
    const payload = item instanceof Uint8Array ? item : item.payload;
    const given = item instanceof Uint8Array ? undefined : item.sha256;
    const len = payload.length;
    this.units++;
    this.logical += len;
    // Without a given digest, the unit's key is the SHA-256 of its smallest fixed blocks'
    // digests (hashed anyway for the fixed-block potential; equal iff the units' bytes are):
    // one pass over the bytes instead of two. The first unit decides for the whole stream, so
    // every unit's key is of the same kind.
    this.derivedKeys ??= !given && this.fixed.length > 0;
    let blocks = -1;
    let digest: Uint8Array;
    if (this.derivedKeys) {
      blocks = this.hashBlocks(payload);
      digest = sha256(this.digestArena.subarray(0, blocks * 32));
    } else digest = given ?? sha256(payload);
    const slot = this.unitIndex.add(digest, 0, len);
    if (slot >= 0) {
      // A byte-identical copy of an earlier unit: every chunk is a duplicate of that unit's,
      // so only the chunk counts grow (fixed: from the length; CDC: remembered per unit).
      for (const f of this.fixed) f.index.chunks += len === 0 ? 0 : Math.ceil(len / f.size);
      this.cdc.forEach((c, k) => {
        c.index.chunks += this.cdcCounts.data[slot * this.cdc.length + k]!;
      });
      return;
    }
    this.addFixed(payload, blocks >= 0 ? blocks : this.hashBlocks(payload));
    if (this.cdc.length) this.addCdc(payload);
    if (this.opts.codecs.length) this.feedCompression(payload);
  }

  /**
   * Cut a distinct unit at every CDC size; its chunks' digests are computed here, or by the
   * worker when it is not busy (then indexed when it answers: the index counts do not depend
   * on the order).
   */
  private addCdc(payload: Uint8Array): void {
    const cdc = this.cdc;
    const counts = cdc.map(() => 0);
    const w = this.offload;
    if (w && w.idle() && payload.length > 0) {
      const lens = this.lens;
      lens.length = 0;
      chunksAll(this.chunkers, payload, (k, _off, n) => {
        counts[k]!++;
        lens.push(n);
        cdc[k]!.sizes.push(n);
      });
      const l = lens.data.slice(0, lens.length);
      const p = w.digests(payload, l.slice(), cdc.length).then((d) => {
        let i = 0;
        cdc.forEach((c, k) => {
          for (let j = 0; j < counts[k]!; j++, i++) c.index.add(d, 16 * i, l[i]!);
        });
      });
      p.catch(() => undefined); // reported by finishAsync
      this.pending.push(p);
    } else {
      chunksAll(this.chunkers, payload, (k, off, n) => {
        const c = cdc[k]!;
        counts[k]!++;
        c.index.add(sha256(payload.subarray(off, off + n)), 0, n);
        c.sizes.push(n);
      });
    }
    for (const n of counts) this.cdcCounts.push(n);
  }

  /** SHA-256 of each block of the smallest fixed size into digestArena; returns the block count. */
  private hashBlocks(payload: Uint8Array): number {
    if (!this.fixed.length) return 0;
    const len = payload.length;
    const b = this.base;
    const nb = Math.ceil(len / b);
    if (this.digestArena.length < nb * 32) this.digestArena = Buffer.alloc(nb * 64);
    const arena = this.digestArena;
    for (let i = 0; i < nb; i++) {
      const from = i * b;
      sha256(payload.subarray(from, Math.min(len, from + b))).copy(arena, i * 32);
    }
    return nb;
  }

  /** The fixed-block indexes of a unit whose `nb` block digests are in digestArena. */
  private addFixed(payload: Uint8Array, nb: number): void {
    if (!this.fixed.length) return;
    const len = payload.length;
    const b = this.base;
    const arena = this.digestArena;
    for (const f of this.fixed) {
      if (f.k === 1) {
        for (let i = 0; i < nb; i++) f.index.add(arena, i * 32, Math.min(b, len - i * b));
      } else if (f.k > 1) {
        for (let i = 0; i < nb; i += f.k) {
          const j = Math.min(nb, i + f.k);
          f.index.add(sha256(arena.subarray(i * 32, j * 32)), 0, Math.min(len, j * b) - i * b);
        }
      } else {
        for (let from = 0; from < len; from += f.size) {
          const piece = payload.subarray(from, Math.min(len, from + f.size));
          f.index.add(sha256(piece), 0, piece.length);
        }
      }
    }
  }

  private feedCompression(payload: Uint8Array): void {
    let off = 0;
    const seg = this.segment;
    while (off < payload.length) {
      const n = Math.min(seg.length - this.segFill, payload.length - off);
      seg.set(payload.subarray(off, off + n), this.segFill);
      this.segFill += n;
      off += n;
      if (this.segFill === seg.length) this.flushSegment();
    }
  }

  private flushSegment(): void {
    if (this.segFill === 0) return;
    const i = this.segCount++;
    const f = this.opts.compressionSample;
    const take = Math.floor((i + 1) * f) > Math.floor(i * f);
    if (take) {
      this.sampledSegments++;
      const seg = this.segment.subarray(0, this.segFill);
      const remote = this.offload ? this.opts.codecs.filter((c) => WORKER_CODECS.includes(c)) : [];
      if (remote.length) {
        const p = this.offload!.sizes(seg, remote).then((out) =>
          remote.forEach((c, i) => {
            this.codecOut[this.opts.codecs.indexOf(c)]! += out[i]!;
          }),
        );
        p.catch(() => undefined); // reported by finishAsync (not as an unhandled rejection before it)
        this.pending.push(p);
      }
      this.opts.codecs.forEach((c, k) => {
        this.codecIn[k]! += seg.length;
        if (!remote.includes(c)) this.codecOut[k]! += compressedSize(c, seg);
      });
    }
    this.segFill = 0;
  }

  /** @internal Compress zstd and DEFLATE on `w`'s thread from now on (finish with `finishAsync`). */
  offloadTo(w: HelperWorker): void {
    this.offload = w;
  }

  /** Waits until at most `bytes` of segments are with the compression worker. */
  async drain(bytes: number): Promise<void> {
    await this.offload?.drain(bytes);
  }

  /** `finish()` once the compression worker has answered for every segment. */
  async finishAsync(): Promise<PotentialReport> {
    this.flushSegment();
    await Promise.all(this.pending);
    this.pending.length = 0;
    return this.finish();
  }

  finish(): PotentialReport {
    this.flushSegment();
    if (this.pending.length) throw new Error("compression segments are still with the worker: await finishAsync()");
    const logical = this.logical;
    const unit = this.unitIndex.result(logical);
    return {
      version: POTENTIAL_VERSION,
      units: this.units,
      logical_bytes: logical,
      unit,
      fixed: this.fixed.map((f) => ({ block_size: f.size, ...f.index.result(logical) })),
      cdc: this.cdc.map((c) => ({
        avg_size: c.chunker.params.avg,
        min_size: c.chunker.params.min,
        max_size: c.chunker.params.max,
        normalization: c.chunker.params.normalization,
        ...c.index.result(logical),
        chunk_size: distribution(c.sizes),
      })),
      compression: {
        segment_bytes: this.opts.compressionSegment,
        sample_fraction: this.opts.compressionSample,
        segments: this.segCount,
        sampled_segments: this.sampledSegments,
        codecs: this.opts.codecs.map((codec, k) => {
          const r = ratio(this.codecIn[k]!, this.codecOut[k]!);
          return { codec, input_bytes: this.codecIn[k]!, output_bytes: this.codecOut[k]!, ratio: r, dedup_compress_ratio: logical / (unit.unique_bytes / r) };
        }),
      },
      seconds: (performance.now() - this.started) / 1000,
    };
  }
}

/** Analyse a whole stream of units (sync or async iterable). */
export async function analyzePotential(
  items: Iterable<Uint8Array | PotentialItem> | AsyncIterable<Uint8Array | PotentialItem>,
  opts: Partial<PotentialOptions> = {},
): Promise<PotentialReport> {
  await loadPotentialCodecs();
  const a = new PotentialAnalyzer(opts);
  const worker = a.opts.codecs.some((c) => WORKER_CODECS.includes(c)) || a.opts.cdcAverages.length ? new HelperWorker() : undefined;
  try {
    if (worker) a.offloadTo(worker);
    for await (const it of items) {
      a.add(it);
      // At most 16 MiB of segments in flight (with a full sample the worker is the slower side).
      if (worker && worker.backlog() > OFFLOAD_BACKLOG) await a.drain(OFFLOAD_BACKLOG / 2);
    }
    return await a.finishAsync();
  } finally {
    await worker?.close();
  }
}

const OFFLOAD_BACKLOG = 16 << 20;

/** Sample fraction that compresses about `budget` bytes of `uniqueBytes` (1 when it fits). */
export function sampleFractionFor(uniqueBytes: number, budget: number): number {
  return uniqueBytes > budget && uniqueBytes > 0 ? Math.max(budget / uniqueBytes, 1e-6) : 1;
}

/** One-line-per-row text table of a report (CLI, notebooks). */
export function potentialTable(r: PotentialReport): string[] {
  const kib = (n: number) => `${Math.round(n / KiB)} KiB`;
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(x >= 100 ? 1 : 3) : "—");
  const rows: [string, string, string][] = [["kind", "parameters", "ratio"]];
  rows.push(["unit (ideal)", `${r.unit.unique_chunks}/${r.units} distinct units`, f(r.unit.ratio)]);
  for (const x of r.fixed) rows.push(["fixed-block", `${kib(x.block_size)}, ${x.unique_chunks}/${x.chunks} distinct`, f(x.ratio)]);
  for (const x of r.cdc)
    rows.push(["FastCDC 2020", `avg ${kib(x.avg_size)} (min ${kib(x.min_size)}, max ${kib(x.max_size)}, NC ${x.normalization}), chunks p50 ${kib(x.chunk_size.p50)} mean ${kib(x.chunk_size.mean)}`, f(x.ratio)]);
  const c = r.compression;
  for (const x of c.codecs) rows.push([`compress ${x.codec}`, `unique data, ${kib(c.segment_bytes)} segments, ${c.sampled_segments}/${c.segments} compressed`, f(x.ratio)]);
  for (const x of c.codecs) rows.push([`dedup+${x.codec}`, "unit dedup, then compression", f(x.dedup_compress_ratio)]);
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => `${row[0].padEnd(w[0]!)}  ${row[1].padEnd(w[1]!)}  ${row[2].padStart(w[2]!)}`);
}

/** Hash-and-count of fixed blocks the plain way (no derived digests): for tests and benches. */
export function plainFixedUniqueBytes(units: Uint8Array[], size: number): number {
  const seen = new Set<string>();
  let unique = 0;
  for (const u of units)
    for (let from = 0; from < u.length; from += size) {
      const piece = u.subarray(from, Math.min(u.length, from + size));
      const k = createHash("sha256").update(piece).digest("hex");
      if (!seen.has(k)) {
        seen.add(k);
        unique += piece.length;
      }
    }
  return unique;
}

/** One L0 result row of a report: metric name, value, unit. */
export interface PotentialMetric {
  metric: string;
  value: number;
  unit: string;
}

/** Size label used in metric names: 4096 → "4KiB", 1 MiB → "1024KiB". */
export function sizeLabel(bytes: number): string {
  return bytes % KiB === 0 ? `${bytes / KiB}KiB` : `${bytes}B`;
}

/**
 * The report as result rows (results.arrow, layer L0, stage "dataset"). Names:
 * potential_unit_ratio; potential_fixed_ratio_<size>; potential_cdc_ratio_<avg>,
 * potential_cdc_chunk_{mean,p10,p50,p90}_<avg>; potential_compress_ratio_<codec>,
 * potential_dedup_compress_ratio_<codec>; potential_compress_sample; potential_s.
 */
export function potentialMetrics(r: PotentialReport): PotentialMetric[] {
  const out: PotentialMetric[] = [{ metric: "potential_unit_ratio", value: r.unit.ratio, unit: "ratio" }];
  for (const f of r.fixed) out.push({ metric: `potential_fixed_ratio_${sizeLabel(f.block_size)}`, value: f.ratio, unit: "ratio" });
  for (const c of r.cdc) {
    const l = sizeLabel(c.avg_size);
    out.push({ metric: `potential_cdc_ratio_${l}`, value: c.ratio, unit: "ratio" });
    for (const q of ["mean", "p10", "p50", "p90"] as const) out.push({ metric: `potential_cdc_chunk_${q}_${l}`, value: c.chunk_size[q], unit: "B" });
  }
  for (const c of r.compression.codecs) {
    out.push({ metric: `potential_compress_ratio_${c.codec}`, value: c.ratio, unit: "ratio" });
    out.push({ metric: `potential_dedup_compress_ratio_${c.codec}`, value: c.dedup_compress_ratio, unit: "ratio" });
  }
  out.push({ metric: "potential_compress_sample", value: r.compression.sample_fraction, unit: "fraction" });
  out.push({ metric: "potential_s", value: r.seconds, unit: "s" });
  return out;
}
