import { expect, it } from "vitest";
import { KafkaLedger, type PlacedRecord } from "../../lib/systems/kafka/kafka-ledger.js";

const rec = (id: string, key: string, partition: number, offset: number, bytes = 100, container = 0): PlacedRecord => ({ id, container, key, partition, offset, bytes });

it("counts bulk and per-unit bytes, and clears", () => {
  const l = new KafkaLedger();
  l.addBulk(1000);
  l.add(rec("u1", "k1", 0, 0));
  expect(l.bytes).toBe(1100);
  l.clear();
  expect(l.bytes).toBe(0);
  expect(l.placement("u1")).toBeUndefined();
});

it("a tombstone removes every live record with that key in that container", () => {
  const l = new KafkaLedger();
  l.add(rec("u1", "k1", 0, 0));
  l.add(rec("u2", "k1", 0, 1)); // duplicate payload, same key
  l.add(rec("u3", "k2", 0, 2));
  l.add(rec("u4", "k1", 0, 0, 100, 1)); // same key, other container (topic)
  l.removeKey(0, "k1");
  expect(l.bytes).toBe(200);
  expect(l.isLive("u2")).toBe(false);
  expect(l.isLive("u4")).toBe(true);
  // where u2 went is still known: deleting it by id later sends its (second) tombstone
  expect(l.placement("u2")).toMatchObject({ key: "k1", partition: 0, offset: 1 });
  l.removeKey(0, "k1"); // idempotent
  expect(l.bytes).toBe(200);
});

it("DeleteRecords removes everything below the new start offset of that partition only", () => {
  const l = new KafkaLedger();
  for (let i = 0; i < 4; i++) l.add(rec(`a${i}`, `k${i}`, 0, i));
  for (let i = 0; i < 2; i++) l.add(rec(`b${i}`, `j${i}`, 1, i));
  l.removeBelow(0, 0, 3);
  expect(l.bytes).toBe(300);
  expect(l.startOffset(0, 0)).toBe(3);
  expect(l.startOffset(0, 1)).toBe(0);
  l.removeBelow(0, 0, 2); // never moves back
  expect(l.startOffset(0, 0)).toBe(3);
  l.removeBelow(0, 0, 4);
  expect(l.bytes).toBe(200);
  expect(l.isLive("a0")).toBe(false);
  expect(l.placement("a0")).toMatchObject({ partition: 0, offset: 0 });
});

it("re-adding a unit id replaces its earlier record", () => {
  const l = new KafkaLedger();
  l.add(rec("u1", "k1", 0, 0, 100));
  l.add(rec("u1", "k1", 0, 5, 120));
  expect(l.bytes).toBe(120);
  expect(l.placement("u1")!.offset).toBe(5);
});
