// RowBinary encoding of one unit (id String, size UInt64, sha256 FixedString(32), payload
// String): the payload bytes travel as they are — no JSON string escaping, no hex.

function varint(n: number, out: Buffer, offset: number): number {
  while (n >= 0x80) {
    out[offset++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[offset++] = n;
  return offset;
}

/** Everything of the row before the payload bytes (which the caller writes as-is after it). */
export function rowHeader(u: { id: string; size: number; sha256: Buffer; payload: Buffer }): Buffer {
  if (u.sha256.length !== 32) throw new Error(`sha256 of ${u.id} is ${u.sha256.length} bytes, expected 32`);
  const id = Buffer.from(u.id, "utf8");
  const out = Buffer.allocUnsafe(10 + id.length + 8 + 32 + 10);
  let o = varint(id.length, out, 0);
  o += id.copy(out, o);
  out.writeBigUInt64LE(BigInt(u.size), o);
  o += 8;
  o += u.sha256.copy(out, o);
  o = varint(u.payload.length, out, o);
  return out.subarray(0, o);
}
