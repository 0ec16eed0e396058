// Staged data: the distinct units of one data set, ready for the payload type.
//   units.bin  — the units, concatenated, each distinct (exact duplicates are dropped at cut time)
//   units.idx  — one 48-byte record per unit: offset (f64 LE), length (f64 LE), sha256 (32 B)
//   index.json — what was staged from what: manifest, cut, sources with checksums, counts
//   blocks-<B>.idx — cache for block granularity: offsets (f64 LE) of the distinct B-byte blocks
import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, readSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../errors.js";
import type { ChecksumStatus } from "./checksums.js";
import type { CutSpec } from "./manifest.js";

export const STAGED_FORMAT = "dedup-lab.staged/1";
export const INDEX_RECORD_BYTES = 48;
const FLUSH_BYTES = 4 * 1024 * 1024;

export interface StagedMember {
  name: string;
  /** Bytes of the (decompressed) member. */
  bytes: number;
  units: number;
  duplicates: number;
  /** Bytes in no unit: skipped headers, dropped tails, JSON separators. */
  dropped_bytes: number;
}

export interface StagedSource {
  id: string;
  from: string;
  sha256: string;
  size: number;
  checksum: ChecksumStatus;
  members: StagedMember[];
}

export interface StagedIndex {
  format: typeof STAGED_FORMAT;
  manifest: string;
  payload: string;
  title: string;
  cut: CutSpec;
  units: number;
  bytes: number;
  min_unit: number;
  max_unit: number;
  /** Units cut but not kept because an identical unit came earlier. */
  duplicates_dropped: number;
  duplicate_bytes_dropped: number;
  dropped_bytes: number;
  units_sha256: string;
  index_record: string;
  sources: StagedSource[];
  staged_at: string;
}

/** Appends distinct units to units.bin; knows every digest it has written. */
export class StagedWriter {
  private readonly fd: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private index = Buffer.allocUnsafe(INDEX_RECORD_BYTES * 1024);
  private readonly seen = new Set<string>();
  private readonly fileHash = createHash("sha256");
  units = 0;
  bytes = 0;
  duplicates = 0;
  duplicateBytes = 0;
  minUnit = Number.POSITIVE_INFINITY;
  maxUnit = 0;

  constructor(readonly dir: string) {
    this.fd = openSync(join(dir, "units.bin"), "wx");
  }

  /** Keep `unit` unless identical bytes were kept before; true when kept. */
  add(unit: Buffer): boolean {
    if (unit.length === 0) return false;
    const digest = createHash("sha256").update(unit).digest();
    const key = digest.toString("latin1");
    if (this.seen.has(key)) {
      this.duplicates++;
      this.duplicateBytes += unit.length;
      return false;
    }
    this.seen.add(key);
    if ((this.units + 1) * INDEX_RECORD_BYTES > this.index.length) {
      const bigger = Buffer.allocUnsafe(this.index.length * 2);
      this.index.copy(bigger);
      this.index = bigger;
    }
    const rec = this.units * INDEX_RECORD_BYTES;
    this.index.writeDoubleLE(this.bytes, rec);
    this.index.writeDoubleLE(unit.length, rec + 8);
    digest.copy(this.index, rec + 16);
    this.units++;
    this.bytes += unit.length;
    this.minUnit = Math.min(this.minUnit, unit.length);
    this.maxUnit = Math.max(this.maxUnit, unit.length);
    this.pending.push(unit);
    this.pendingBytes += unit.length;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
    return true;
  }

  private flush(): void {
    if (this.pendingBytes === 0) return;
    const buf = Buffer.concat(this.pending, this.pendingBytes);
    this.fileHash.update(buf);
    for (let off = 0; off < buf.length; ) off += writeSync(this.fd, buf, off, buf.length - off);
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Write units.idx and index.json; the directory is complete afterwards. */
  finish(header: Omit<StagedIndex, "format" | "units" | "bytes" | "min_unit" | "max_unit" | "duplicates_dropped" | "duplicate_bytes_dropped" | "units_sha256" | "index_record" | "staged_at">): StagedIndex {
    this.flush();
    closeSync(this.fd);
    writeFileSync(join(this.dir, "units.idx"), this.index.subarray(0, this.units * INDEX_RECORD_BYTES));
    const index: StagedIndex = {
      format: STAGED_FORMAT,
      ...header,
      units: this.units,
      bytes: this.bytes,
      min_unit: this.units ? this.minUnit : 0,
      max_unit: this.maxUnit,
      duplicates_dropped: this.duplicates,
      duplicate_bytes_dropped: this.duplicateBytes,
      units_sha256: this.fileHash.digest("hex"),
      index_record: "offset f64le, length f64le, sha256 32 B",
      staged_at: new Date().toISOString(),
    };
    writeFileSync(join(this.dir, "index.json"), JSON.stringify(index, null, 2) + "\n");
    return index;
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}

export function readStagedIndex(dir: string): StagedIndex | undefined {
  try {
    const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as StagedIndex;
    return index.format === STAGED_FORMAT ? index : undefined;
  } catch {
    return undefined;
  }
}

function readFully(fd: number, out: Buffer, position: number, what: string): void {
  let off = 0;
  while (off < out.length) {
    const n = readSync(fd, out, off, out.length - off, position + off);
    if (n === 0) throw new Error(`${what}: staged data ends early at byte ${position + off}`);
    off += n;
  }
}

/** Read access to staged units (synchronous: units are read while a dataset is generated). */
export class StagedUnits {
  readonly count: number;
  private readonly offsets: Float64Array;
  private readonly lengths: Float64Array;
  private fd: number | null;

  private constructor(readonly dir: string, readonly index: StagedIndex, idx: Buffer) {
    this.count = idx.length / INDEX_RECORD_BYTES;
    this.offsets = new Float64Array(this.count);
    this.lengths = new Float64Array(this.count);
    for (let i = 0; i < this.count; i++) {
      this.offsets[i] = idx.readDoubleLE(i * INDEX_RECORD_BYTES);
      this.lengths[i] = idx.readDoubleLE(i * INDEX_RECORD_BYTES + 8);
    }
    this.fd = openSync(join(dir, "units.bin"), "r");
  }

  /** Open staged data, or explain (UsageError) how to stage it. */
  static open(dir: string, payload: string): StagedUnits {
    const index = readStagedIndex(dir);
    if (!index) {
      throw new UsageError(`payload ${payload} is not staged (no ${join(dir, "index.json")})`, `run \`dedup-lab data stage ${payload}\` with the same --scratch (or data.scratch / DEDUP_DATA_SCRATCH)`);
    }
    const idx = readFileSync(join(dir, "units.idx"));
    if (idx.length !== index.units * INDEX_RECORD_BYTES) {
      throw new UsageError(`staged data of ${payload} in ${dir} is damaged (index has ${idx.length} B for ${index.units} units)`, `stage it again: dedup-lab data stage ${payload}`);
    }
    return new StagedUnits(dir, index, idx);
  }

  sizeOf(i: number): number {
    return this.lengths[i]!;
  }

  /** Copy unit i into out (out.length must equal its size). */
  read(i: number, out: Buffer): void {
    if (!(i >= 0 && i < this.count)) throw new RangeError(`unit ${i} of ${this.count}`);
    if (out.length !== this.lengths[i]) throw new RangeError(`unit ${i} is ${this.lengths[i]} B, asked for ${out.length} B`);
    this.readAt(this.offsets[i]!, out);
  }

  readAt(offset: number, out: Buffer): void {
    if (this.fd === null) throw new Error(`staged data ${this.dir} is closed`);
    readFully(this.fd, out, offset, this.index.payload);
  }

  /**
   * Offsets of the distinct `blockSize`-byte blocks of units.bin read as one stream (the
   * tail shorter than a block is not used). Computed once per block size and cached.
   */
  distinctBlocks(blockSize: number): Float64Array {
    const cache = join(this.dir, `blocks-${blockSize}.idx`);
    if (existsSync(cache)) {
      const buf = readFileSync(cache);
      return new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
    }
    const blocks = Math.floor(this.index.bytes / blockSize);
    const chunkBlocks = Math.max(1, Math.floor(FLUSH_BYTES / blockSize));
    const buf = Buffer.allocUnsafe(chunkBlocks * blockSize);
    const seen = new Set<string>();
    const offsets: number[] = [];
    for (let b = 0; b < blocks; b += chunkBlocks) {
      const n = Math.min(chunkBlocks, blocks - b);
      const view = buf.subarray(0, n * blockSize);
      this.readAt(b * blockSize, view);
      for (let k = 0; k < n; k++) {
        const key = createHash("sha256").update(view.subarray(k * blockSize, (k + 1) * blockSize)).digest().toString("latin1");
        if (!seen.has(key)) (seen.add(key), offsets.push((b + k) * blockSize));
      }
    }
    const result = Float64Array.from(offsets);
    try {
      writeFileSync(`${cache}.tmp-${process.pid}`, Buffer.from(result.buffer));
      renameSync(`${cache}.tmp-${process.pid}`, cache);
    } catch {
      /* a read-only scratch: recompute next time */
    }
    return result;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
