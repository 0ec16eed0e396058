import { createHash, randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import kafkajs from "kafkajs";
import { describe, expect, it } from "vitest";
import { lz4Frame, registerKafkaCodecs } from "../../lib/systems/kafka/kafka-codecs.js";

const require = createRequire(import.meta.url);
const lz4js = require("lz4js") as { decompress(b: Uint8Array): Uint8Array };

describe("lz4Frame", () => {
  it("declares independent 64 KiB blocks (the only LZ4 frames Kafka reads) and round-trips", () => {
    const unit = randomBytes(20_000);
    const src = Buffer.concat([unit, unit, randomBytes(100_000), unit]);
    const frame = lz4Frame(src);
    expect(frame.readUInt32LE(0)).toBe(0x184d2204);
    expect(frame[4]).toBe(0x60); // version 01 + block independence
    expect(frame[5]).toBe(0x40); // 64 KiB blocks
    expect(Buffer.from(lz4js.decompress(frame)).equals(src)).toBe(true);
    // the copy 20 KB after the first is found inside the first block
    expect(frame.length).toBeLessThan(src.length - 15_000);
  });

  it("stores an incompressible block raw and handles the empty input", () => {
    const src = randomBytes(70_000);
    const frame = lz4Frame(src);
    expect(frame.readUInt32LE(7) >>> 31).toBe(1); // first block flagged uncompressed
    expect(Buffer.from(lz4js.decompress(frame)).equals(src)).toBe(true);
    expect(lz4Frame(Buffer.alloc(0)).length).toBe(11); // header + end mark
  });
});

describe("kafkajs codecs", () => {
  it.each([
    ["LZ4", kafkajs.CompressionTypes.LZ4],
    ["ZSTD", kafkajs.CompressionTypes.ZSTD],
  ] as const)("%s compresses and decompresses through the kafkajs codec table", async (_name, type) => {
    registerKafkaCodecs();
    const codec = kafkajs.CompressionCodecs[type as 3 | 4]() as { compress(e: { buffer: Buffer }): Promise<Buffer>; decompress(b: Buffer): Promise<Buffer> };
    const unit = randomBytes(4096);
    const src = Buffer.concat([unit, unit, unit, unit]);
    const packed = await codec.compress({ buffer: src });
    expect(packed.length).toBeLessThan(src.length / 2);
    const back = await codec.decompress(packed);
    expect(createHash("sha256").update(back).digest("hex")).toBe(createHash("sha256").update(src).digest("hex"));
  });
});
