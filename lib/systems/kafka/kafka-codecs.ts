// kafkajs ships only gzip; LZ4 and zstd codecs are plugged in here from two pure JS/wasm
// packages (no native build, no download at install): lz4js for LZ4 blocks, zstd-codec (the
// reference zstd compiled with Emscripten). Kafka reads only LZ4 frames with independent
// blocks, which lz4js's own frame writer does not declare, so the frame is written here the
// way the Java producer writes it (KafkaLZ4BlockOutputStream: 64 KiB independent blocks).
import { createRequire } from "node:module";
import kafkajs from "kafkajs";

const { CompressionCodecs, CompressionTypes } = kafkajs;
const require = createRequire(import.meta.url);

interface Lz4js {
  compressBound(n: number): number;
  compressBlock(src: Uint8Array, dst: Uint8Array, sIndex: number, sLength: number, hashTable: Uint32Array): number;
  decompress(data: Uint8Array): Uint8Array | number[];
}
type Xxh32 = (seed: number, src: Uint8Array, index: number, length: number) => number;

const LZ4_MAGIC = 0x184d2204;
const LZ4_BLOCK = 64 * 1024;
const LZ4_FLG = 0x40 | 0x20; // version 01, independent blocks, no checksums
const LZ4_BD = 4 << 4; // 64 KiB maximum block size

/** One LZ4 frame of independent 64 KiB blocks (a block that does not shrink is stored raw). */
export function lz4Frame(src: Buffer): Buffer {
  const lz4 = require("lz4js") as Lz4js;
  const xxh32 = (require("lz4js/xxh32.js") as { hash: Xxh32 }).hash;
  const parts: Buffer[] = [];
  const header = Buffer.alloc(7);
  header.writeUInt32LE(LZ4_MAGIC, 0);
  header[4] = LZ4_FLG;
  header[5] = LZ4_BD;
  header[6] = (xxh32(0, header, 4, 2) >>> 8) & 0xff;
  parts.push(header);
  const block = Buffer.alloc(lz4.compressBound(LZ4_BLOCK));
  const table = new Uint32Array(1 << 16);
  for (let i = 0; i < src.length; i += LZ4_BLOCK) {
    const len = Math.min(LZ4_BLOCK, src.length - i);
    table.fill(0); // no match may reach into an earlier block
    const n = lz4.compressBlock(src, block, i, len, table);
    const size = Buffer.alloc(4);
    if (n === 0 || n >= len) {
      size.writeUInt32LE((0x80000000 | len) >>> 0, 0);
      parts.push(size, src.subarray(i, i + len));
    } else {
      size.writeUInt32LE(n, 0);
      parts.push(size, Buffer.from(block.subarray(0, n)));
    }
  }
  parts.push(Buffer.alloc(4)); // end mark
  return Buffer.concat(parts);
}
interface ZstdSimple {
  compress(data: Uint8Array, level?: number): Uint8Array | null;
  decompress(data: Uint8Array): Uint8Array | null;
}
interface ZstdStreaming {
  decompress(data: Uint8Array, sizeHint?: number): Uint8Array | null;
}
interface ZstdCodecModule {
  ZstdCodec: { run(cb: (zstd: { Simple: new () => ZstdSimple; Streaming: new () => ZstdStreaming }) => void): void };
}

/** Compression level of the zstd codec (librdkafka's and the Java client's default is 3). */
export const ZSTD_LEVEL = 3;

/** kafkajs hands codecs an Encoder; its `.buffer` is the uncompressed record bytes. */
interface Encoder {
  buffer: Buffer;
}

let zstdCodecs: Promise<{ simple: ZstdSimple; streaming: ZstdStreaming }> | undefined;
function zstdBoth(): Promise<{ simple: ZstdSimple; streaming: ZstdStreaming }> {
  zstdCodecs ??= new Promise((resolve) => {
    (require("zstd-codec") as ZstdCodecModule).ZstdCodec.run((z) => resolve({ simple: new z.Simple(), streaming: new z.Streaming() }));
  });
  return zstdCodecs;
}
async function zstd(): Promise<ZstdSimple> {
  return (await zstdBoth()).simple;
}

/**
 * Decompress one zstd frame. Simple needs the frame's content size in its header; frames written
 * by a streaming compressor have none — the broker's own (zstd-jni) when the log cleaner rewrites a
 * compacted batch — and Simple answers null for them: those go through the streaming decoder.
 */
export async function zstdDecompress(data: Uint8Array): Promise<Buffer> {
  const { simple, streaming } = await zstdBoth();
  return toBuffer(simple.decompress(data) ?? streaming.decompress(data), "zstd decompress");
}

function toBuffer(b: Uint8Array | number[] | null, what: string): Buffer {
  if (b === null) throw new Error(`${what} failed`);
  return Buffer.isBuffer(b) ? b : Buffer.from(b as Uint8Array);
}

let registered = false;

/** Register LZ4 and ZSTD with kafkajs (process-wide, idempotent). */
export function registerKafkaCodecs(): void {
  if (registered) return;
  registered = true;
  const lz4 = require("lz4js") as Lz4js;
  CompressionCodecs[CompressionTypes.LZ4] = () => ({
    compress: async (encoder: Encoder) => lz4Frame(encoder.buffer),
    decompress: async (data: Buffer) => toBuffer(lz4.decompress(data), "lz4 decompress"),
  });
  CompressionCodecs[CompressionTypes.ZSTD] = () => ({
    compress: async (encoder: Encoder) => toBuffer((await zstd()).compress(encoder.buffer, ZSTD_LEVEL), "zstd compress"),
    decompress: async (data: Buffer) => zstdDecompress(data),
  });
}

/** kafkajs codec for a variant's compression name. */
export function kafkajsCompression(name: "none" | "lz4" | "zstd"): number {
  return name === "lz4" ? CompressionTypes.LZ4 : name === "zstd" ? CompressionTypes.ZSTD : CompressionTypes.None;
}
