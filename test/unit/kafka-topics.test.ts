import { describe, expect, it } from "vitest";
import {
  cellTopicPattern, compactionOverrides, KAFKA_VARIANTS, parseVariant, settleWindowMs, topicConfigs,
} from "../../lib/systems/kafka/kafka-topics.js";

describe("kafka variants", () => {
  it("are cleanup.policy × compression, delete_none first (the default)", () => {
    expect(Object.keys(KAFKA_VARIANTS)).toEqual(["delete_none", "delete_lz4", "delete_zstd", "compact_none", "compact_lz4", "compact_zstd"]);
  });

  it("parse into policy and codec, and refuse anything else", () => {
    expect(parseVariant("compact_zstd")).toEqual({ cleanupPolicy: "compact", compression: "zstd" });
    expect(parseVariant("delete_snappy")).toBeNull();
    expect(parseVariant("default")).toBeNull();
  });

  it("set cleanup.policy and compression.type on the topic", () => {
    expect(topicConfigs({ cleanupPolicy: "delete", compression: "none" }, 1 << 20)).toEqual({
      "cleanup.policy": "delete", "compression.type": "uncompressed", "max.message.bytes": "1048576",
    });
    expect(topicConfigs({ cleanupPolicy: "compact", compression: "lz4" }, 2048)["compression.type"]).toBe("lz4");
  });
});

describe("compact_wait settings", () => {
  it("rolls segments on every topic; compacted topics also clean at once and drop tombstones", () => {
    expect(compactionOverrides({ cleanupPolicy: "delete", compression: "none" })).toEqual({ "segment.ms": "100" });
    expect(compactionOverrides({ cleanupPolicy: "compact", compression: "zstd" })).toEqual({
      "segment.ms": "100", "min.cleanable.dirty.ratio": "0.0", "min.compaction.lag.ms": "0", "delete.retention.ms": "0",
    });
  });

  it("waits twice the slowest broker loop, within 1–30 s", () => {
    expect(settleWindowMs({ "log.cleaner.backoff.ms": "200", "log.retention.check.interval.ms": "1000" })).toBe(2500);
    expect(settleWindowMs({ "log.cleaner.backoff.ms": "15000", "log.retention.check.interval.ms": "300000" })).toBe(30_000);
    expect(settleWindowMs({ "log.cleaner.backoff.ms": "10", "log.retention.check.interval.ms": "10" })).toBe(1000);
    expect(settleWindowMs({})).toBe(30_000); // unknown: assume Kafka's defaults
  });
});

it("a cell's topic pattern matches its container topics only", () => {
  const p = cellTopicPattern("dedup-lab-a1");
  expect(p.test("dedup-lab-a1-c0")).toBe(true);
  expect(p.test("dedup-lab-a1-c12")).toBe(true);
  expect(p.test("dedup-lab-a1-b-c0")).toBe(false);
  expect(p.test("dedup-lab-a1x-c0")).toBe(false);
  expect(p.test("dedup-lab-events")).toBe(false);
});
