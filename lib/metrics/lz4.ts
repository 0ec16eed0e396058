// LZ4 block compression, a line-by-line port of the reference library's default compressor
// (lz4.c 1.9.4/1.10: LZ4_compress_default = LZ4_compress_fast_extState with acceleration 1, a
// fresh zeroed state, output not limited). Only inputs below LZ4_64Klimit (65 547 bytes), so
// the table is always `byU16` (13-bit hash of 4 bytes, 16-bit positions) — the potential cuts
// LZ4 input into 64 KiB blocks like the LZ4 frame's default block size. Why a port: no npm
// package ships the reference compressor for Node without a native build (lz4js and lz4_flex
// use other match finders: −10 … +10 % against it); the port's output is byte-identical to
// python-lz4's lz4.block.compress (test/unit/lz4.test.ts, test/integration/potential-reference.test.ts).

const MINMATCH = 4;
const MFLIMIT = 12;
const LASTLITERALS = 5;
const ML_BITS = 4;
const ML_MASK = 15;
const RUN_MASK = 15;
const SKIP_TRIGGER = 6;
/** LZ4_64Klimit: below it the reference uses the 16-bit table this port implements. */
export const LZ4_64K_LIMIT = 65536 + (MFLIMIT - 1);

/** LZ4_compressBound. */
export function lz4CompressBound(n: number): number {
  return n + Math.floor(n / 255) + 16;
}

const table = new Uint16Array(1 << 13);
let out = new Uint8Array(lz4CompressBound(LZ4_64K_LIMIT));

const read32 = (b: Uint8Array, p: number) => (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) | 0;
/** LZ4_hash4 for byU16: (sequence · 2654435761) >> (32 − 13). */
const hash = (b: Uint8Array, p: number) => Math.imul(read32(b, p), -1640531535) >>> 19;

/**
 * Compress src[start, start + length) (length < LZ4_64K_LIMIT) into one raw LZ4 block; returns
 * the block (a view of a reused buffer, valid until the next call). Same bytes as LZ4_compress_default.
 */
export function lz4CompressBlock(src: Uint8Array, start = 0, length = src.length - start): Uint8Array {
  if (length >= LZ4_64K_LIMIT) throw new RangeError(`LZ4 block of ${length} bytes: this port handles blocks below ${LZ4_64K_LIMIT} bytes; cut the input into 64 KiB blocks`);
  if (out.length < lz4CompressBound(length)) out = new Uint8Array(lz4CompressBound(length));
  const dst = out;
  table.fill(0);
  // Positions are relative to `start` (the reference's `base`); b[] reads are src[start + p].
  const b = start === 0 ? src : src.subarray(start, start + length);
  const iend = length;
  const mflimitPlusOne = iend - MFLIMIT + 1;
  const matchlimit = iend - LASTLITERALS;
  let ip = 0;
  let anchor = 0;
  let op = 0;
  let match = 0;
  let token = 0;

  if (length >= MFLIMIT + 1) {
    table[hash(b, ip)] = ip;
    ip++;
    let forwardH = hash(b, ip);
    main: for (;;) {
      // Find a match (step grows every 2^SKIP_TRIGGER misses).
      {
        let forwardIp = ip;
        let step = 1;
        let searchMatchNb = 1 << SKIP_TRIGGER;
        for (;;) {
          const h = forwardH;
          const current = forwardIp;
          const matchIndex = table[h]!;
          ip = forwardIp;
          forwardIp += step;
          step = searchMatchNb++ >> SKIP_TRIGGER;
          if (forwardIp > mflimitPlusOne) break main;
          match = matchIndex;
          forwardH = hash(b, forwardIp);
          table[h] = current;
          if (read32(b, match) === read32(b, ip)) break;
        }
      }
      // Catch up.
      while (ip > anchor && match > 0 && b[ip - 1] === b[match - 1]) {
        ip--;
        match--;
      }
      // Literals.
      {
        const litLength = ip - anchor;
        token = op++;
        if (litLength >= RUN_MASK) {
          let len = litLength - RUN_MASK;
          dst[token] = RUN_MASK << ML_BITS;
          for (; len >= 255; len -= 255) dst[op++] = 255;
          dst[op++] = len;
        } else dst[token] = litLength << ML_BITS;
        dst.set(b.subarray(anchor, ip), op);
        op += litLength;
      }
      for (;;) {
        // Offset, then match length.
        const off = ip - match;
        dst[op++] = off & 0xff;
        dst[op++] = off >>> 8;
        let matchCode = 0;
        {
          let pi = ip + MINMATCH;
          let pm = match + MINMATCH;
          while (pi < matchlimit && b[pi] === b[pm]) {
            pi++;
            pm++;
          }
          matchCode = pi - (ip + MINMATCH);
          ip = pi;
        }
        if (matchCode >= ML_MASK) {
          dst[token]! += ML_MASK;
          matchCode -= ML_MASK;
          for (; matchCode >= 255; matchCode -= 255) dst[op++] = 255;
          dst[op++] = matchCode;
        } else dst[token]! += matchCode;
        anchor = ip;
        if (ip >= mflimitPlusOne) break main;
        // Fill table.
        table[hash(b, ip - 2)] = ip - 2;
        // Test the next position: an immediate match continues without literals.
        const h = hash(b, ip);
        match = table[h]!;
        table[h] = ip;
        if (read32(b, match) === read32(b, ip)) {
          token = op++;
          dst[token] = 0;
          continue;
        }
        break;
      }
      forwardH = hash(b, ++ip);
    }
  }
  // Last literals.
  const lastRun = iend - anchor;
  if (lastRun >= RUN_MASK) {
    let acc = lastRun - RUN_MASK;
    dst[op++] = RUN_MASK << ML_BITS;
    for (; acc >= 255; acc -= 255) dst[op++] = 255;
    dst[op++] = acc;
  } else dst[op++] = lastRun << ML_BITS;
  dst.set(b.subarray(anchor, iend), op);
  op += lastRun;
  return dst.subarray(0, op);
}
