// Cutting one member's byte stream into units. Boundaries depend only on the bytes, never
// on how they arrive in chunks (the tests feed the same input 1 byte at a time and in large
// chunks and expect identical units). Units are exact slices of the member:
//   fixed  — consecutive `size`-byte pieces; the shorter last piece is dropped or kept (`tail`).
//   frame  — skip `header` bytes, then `size`-byte frames; a partial last frame is dropped.
//   lines  — `lines` lines per unit, or whole lines packed up to `target` bytes (a longer
//            line is a unit of its own, never split); line terminators stay in the unit.
//   json   — top-level JSON values (of NDJSON/concatenated JSON, or the elements of one
//            top-level array): `objects` values per unit, or packed up to `target` bytes; a
//            unit runs from its first value's first byte to its last value's last byte.
import { UsageError } from "../errors.js";
import { parseBytes } from "../bytes.js";
import { MAX_UNIT_SIZE } from "../generators/sizes.js";
import type { CutSpec } from "./manifest.js";

export type Emit = (unit: Buffer) => void;

export interface Cutter {
  push(chunk: Buffer, emit: Emit): void;
  end(emit: Emit): void;
  /** Bytes of the member that are in no unit (skipped header, dropped tail, JSON separators). */
  readonly dropped: number;
}

/** Bytes in arrival order with an absolute position; takes and skips from the front. */
class ByteQueue {
  private chunks: Buffer[] = [];
  /** Absolute offset of the first byte still queued. */
  base = 0;
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Remove and return the first n bytes (n ≤ length). */
  take(n: number): Buffer {
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const c = this.chunks[0]!;
      if (c.length <= need) {
        parts.push(c);
        this.chunks.shift();
        need -= c.length;
      } else {
        parts.push(c.subarray(0, need));
        this.chunks[0] = c.subarray(need);
        need = 0;
      }
    }
    this.base += n;
    this.length -= n;
    // A copy: units outlive the chunks they came from.
    return parts.length === 1 ? Buffer.from(parts[0]!) : Buffer.concat(parts, n);
  }

  skip(n: number): void {
    let need = n;
    while (need > 0) {
      const c = this.chunks[0]!;
      if (c.length <= need) {
        this.chunks.shift();
        need -= c.length;
      } else {
        this.chunks[0] = c.subarray(need);
        need = 0;
      }
    }
    this.base += n;
    this.length -= n;
  }
}

function bytesOf(v: number | string, what: string): number {
  const n = typeof v === "number" ? v : parseBytes(v, what);
  if (n < 1 || n > MAX_UNIT_SIZE) throw new UsageError(`${what} ${n} B is outside 1 B … 256 MiB`, "choose a smaller unit size in the manifest's cut");
  return n;
}

function tooLong(member: string, bytes: number): UsageError {
  return new UsageError(`${member}: a single record is over ${bytes} B (the 256 MiB unit limit)`, "use a fixed-size cut for this data set");
}

class FixedCutter implements Cutter {
  private readonly q = new ByteQueue();
  private headerLeft: number;
  dropped = 0;
  constructor(private readonly size: number, private readonly keepTail: boolean, header: number) {
    this.headerLeft = header;
  }
  push(chunk: Buffer, emit: Emit): void {
    if (this.headerLeft > 0) {
      const skip = Math.min(this.headerLeft, chunk.length);
      this.headerLeft -= skip;
      this.dropped += skip;
      chunk = chunk.subarray(skip);
    }
    this.q.push(chunk);
    while (this.q.length >= this.size) emit(this.q.take(this.size));
  }
  end(emit: Emit): void {
    if (this.q.length === 0) return;
    if (this.keepTail) emit(this.q.take(this.q.length));
    else (this.dropped += this.q.length), this.q.skip(this.q.length);
  }
}

/**
 * Cuts at record ends. Subclasses report where records end (absolute offsets, exclusive)
 * and where the first record starts; packing into units is shared.
 */
abstract class RecordCutter implements Cutter {
  protected readonly q = new ByteQueue();
  /** Absolute position scanned so far. */
  protected pos = 0;
  /** Start of the open unit (null: none open). */
  private unitStart: number | null = null;
  /** End of the last complete record inside the open unit. */
  private lastEnd = 0;
  private records = 0;
  /** Start of the record being scanned. */
  private recStart = 0;
  dropped = 0;

  constructor(protected readonly member: string, private readonly perUnit: number | undefined, private readonly target: number | undefined) {}

  /** Scan `chunk` (which starts at this.pos), calling recordStart/recordEnd. */
  protected abstract scan(chunk: Buffer, emit: Emit): void;
  protected abstract finish(emit: Emit): void;

  push(chunk: Buffer, emit: Emit): void {
    this.q.push(chunk);
    this.scan(chunk, emit);
    this.pos += chunk.length;
    const open = this.unitStart ?? this.q.base;
    if (this.pos - open > MAX_UNIT_SIZE) throw tooLong(this.member, MAX_UNIT_SIZE);
  }

  end(emit: Emit): void {
    this.finish(emit);
    if (this.unitStart !== null && this.lastEnd > this.unitStart) this.cut(this.lastEnd, emit);
    this.unitStart = null;
    if (this.q.length > 0) (this.dropped += this.q.length), this.q.skip(this.q.length);
  }

  /** A record begins at absolute offset `at` (bytes before it that belong to no unit are dropped). */
  protected recordStart(at: number): void {
    this.recStart = at;
    if (this.unitStart !== null) return;
    const gap = at - this.q.base;
    if (gap > 0) (this.dropped += gap), this.q.skip(gap);
    this.unitStart = at;
    this.lastEnd = at;
    this.records = 0;
  }

  /** A record ends at absolute offset `end` (exclusive). */
  protected recordEnd(end: number, emit: Emit): void {
    if (this.perUnit !== undefined) {
      this.lastEnd = end;
      if (++this.records === this.perUnit) this.cut(end, emit);
      return;
    }
    const target = this.target!;
    const start = this.unitStart!;
    if (end - start <= target) {
      this.lastEnd = end;
      this.records++;
      return;
    }
    // The record does not fit: close the unit before it, then it starts the next one.
    if (this.lastEnd > start) {
      this.cut(this.lastEnd, emit);
      this.recordStart(this.recStart);
    }
    this.lastEnd = end;
    this.records = 1;
    if (end - this.unitStart! > target) this.cut(end, emit); // a record longer than target: alone
  }

  private cut(end: number, emit: Emit): void {
    const start = this.unitStart!;
    if (start > this.q.base) (this.dropped += start - this.q.base), this.q.skip(start - this.q.base);
    emit(this.q.take(end - start));
    this.unitStart = null;
    this.records = 0;
  }
}

class LineCutter extends RecordCutter {
  /** A line has begun (its first byte seen) and its terminator not yet. */
  private lineOpen = false;
  protected scan(chunk: Buffer, emit: Emit): void {
    let from = 0;
    while (from < chunk.length) {
      if (!this.lineOpen) {
        this.recordStart(this.pos + from);
        this.lineOpen = true;
      }
      const nl = chunk.indexOf(10, from);
      if (nl < 0) return;
      this.recordEnd(this.pos + nl + 1, emit);
      this.lineOpen = false;
      from = nl + 1;
    }
  }
  protected finish(emit: Emit): void {
    // A last line without a terminator is still a line.
    if (this.lineOpen) this.recordEnd(this.pos, emit);
  }
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/** Structural JSON scanner: finds top-level values (or the elements of one top-level array). */
class JsonCutter extends RecordCutter {
  private started = false;
  private wrapped = false;
  private closed = false;
  private stack: number[] = [];
  private inString = false;
  private escape = false;
  /** Kind of the value being scanned: 0 none, 1 container, 2 string, 3 scalar. */
  private kind = 0;

  private bad(at: number, what: string): UsageError {
    return new UsageError(`${this.member}: not valid JSON at byte ${at} (${what})`, "check the archive member or use a lines/fixed cut");
  }

  protected scan(chunk: Buffer, emit: Emit): void {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      const at = this.pos + i;
      if (this.kind === 1 || this.kind === 2) {
        if (this.inString) {
          if (this.escape) this.escape = false;
          else if (c === 0x5c) this.escape = true;
          else if (c === 0x22) {
            this.inString = false;
            if (this.kind === 2) (this.kind = 0), this.recordEnd(at + 1, emit);
          }
          continue;
        }
        if (c === 0x22) this.inString = true;
        else if (c === 0x7b || c === 0x5b) this.stack.push(c);
        else if (c === 0x7d || c === 0x5d) {
          const open = this.stack.pop();
          if ((c === 0x7d && open !== 0x7b) || (c === 0x5d && open !== 0x5b)) throw this.bad(at, "mismatched bracket");
          if (this.stack.length === 0) (this.kind = 0), this.recordEnd(at + 1, emit);
        }
        continue;
      }
      if (this.kind === 3) {
        if (WS.has(c) || c === 0x2c || c === 0x5d) {
          this.kind = 0;
          this.recordEnd(at, emit);
        } else continue;
      }
      // Between values.
      if (WS.has(c) || c === 0x2c) continue;
      if (this.closed) throw this.bad(at, "data after the closing ]");
      if (!this.started) {
        this.started = true;
        if (c === 0x5b) {
          this.wrapped = true;
          continue;
        }
      }
      if (c === 0x5d) {
        if (!this.wrapped) throw this.bad(at, "unexpected ]");
        this.closed = true;
        continue;
      }
      if (c === 0x7d) throw this.bad(at, "unexpected }");
      this.recordStart(at);
      if (c === 0x7b || c === 0x5b) (this.kind = 1), this.stack.push(c);
      else if (c === 0x22) (this.kind = 2), (this.inString = true);
      else this.kind = 3;
    }
  }

  protected finish(emit: Emit): void {
    if (this.kind === 3) (this.kind = 0), this.recordEnd(this.pos, emit);
    if (this.kind !== 0) throw this.bad(this.pos, "the member ends inside a value");
    if (this.wrapped && !this.closed) throw this.bad(this.pos, "the top-level array is not closed");
  }
}

/** A fresh cutter for one member. */
export function makeCutter(cut: CutSpec, member: string): Cutter {
  switch (cut.mode) {
    case "fixed":
      return new FixedCutter(bytesOf(cut.size, "cut size"), cut.tail === "keep", 0);
    case "frame":
      return new FixedCutter(bytesOf(cut.size, "frame size"), false, cut.header === 0 ? 0 : bytesOf(cut.header, "frame header"));
    case "lines":
      return new LineCutter(member, cut.lines, cut.target === undefined ? undefined : bytesOf(cut.target, "cut target"));
    case "json":
      return new JsonCutter(member, cut.target === undefined ? (cut.objects ?? 1) : undefined, cut.target === undefined ? undefined : bytesOf(cut.target, "cut target"));
  }
}

/** Cut a whole buffer (tests, small inputs). */
export function cutBuffer(cut: CutSpec, data: Buffer, chunkSize = data.length || 1): { units: Buffer[]; dropped: number } {
  const c = makeCutter(cut, "buffer");
  const units: Buffer[] = [];
  const emit = (u: Buffer) => units.push(u);
  for (let off = 0; off < data.length; off += chunkSize) c.push(data.subarray(off, off + chunkSize), emit);
  c.end(emit);
  return { units, dropped: c.dropped };
}
