// The kafka connector against the real Apache Kafka 4.x broker of scripts/services.sh
// (PLAINTEXT listener): every variant through a full cell, compaction by key, the
// acknowledgement semantics of insert, codecs end to end, and refusals.
import kafkajs from "kafkajs";
import { beforeAll, describe, expect, it } from "vitest";
import { SystemError } from "../../lib/errors.js";
import { LabNamespace } from "../../lib/systems/namespace.js";
import type { CellContext, LabSystem, SizeReading } from "../../lib/systems/contract.js";
import { registerKafkaCodecs } from "../../lib/systems/kafka/kafka-codecs.js";
import { kafkaDefinition } from "../../lib/systems/kafka/kafka-options.js";
import { KAFKA_VARIANTS } from "../../lib/systems/kafka/kafka-topics.js";
import { primary, runCellThrough, smallDataset } from "../helpers/contract-harness.js";
import { loadServicesEnv } from "../helpers/services-env.js";

const lab = new LabNamespace();
let brokers = "";

function kafkaSystem(over: Record<string, unknown> = {}): LabSystem {
  return kafkaDefinition.create(kafkaDefinition.options.parse({ brokers, ...over }), lab);
}

function cell(variant: string, containers = 1): CellContext {
  return { lab, cellKey: "k" + Math.random().toString(36).slice(2, 8), variant, containers, workDir: "/tmp", log: () => {} };
}

function bytesOf(readings: SizeReading[], metric: string): number | null {
  return readings.find((r) => r.metric === metric)!.bytes;
}

beforeAll(() => {
  brokers = loadServicesEnv().DEDUP_KAFKA_BROKERS!;
});

/** A short-lived admin client of its own (a long-lived kafkajs admin keeps asking for topics deleted since). */
async function withAdmin<T>(fn: (admin: kafkajs.Admin) => Promise<T>): Promise<T> {
  const admin = new kafkajs.Kafka({ clientId: "dedup-lab-test", brokers: [brokers], logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

describe("kafka connector, full cell per variant", () => {
  it.each(Object.keys(KAFKA_VARIANTS))("%s", async (variant) => {
    const ds = smallDataset({ units: 20, fraction: 0.5 });
    const logical = ds.totals.n_units * 64 + ds.totals.logical_bytes; // key (hex SHA-256) + value
    const r = await runCellThrough(kafkaSystem(), { variant, dataset: ds });
    const s = r.sizes;

    for (const stage of Object.values(s)) {
      expect(stage.filter((x) => x.layer === "L1" && x.primary)).toHaveLength(1);
      expect(stage.filter((x) => x.layer === "L2" && x.primary)).toHaveLength(1);
    }
    expect(primary(s.prepared, "L1")).toBe(0);
    expect(primary(s.prepared, "L2")).toBe(0);
    expect(primary(s.bulk, "L1")).toBe(logical);
    const bulkL2 = primary(s.bulk, "L2")!;
    if (variant.endsWith("_none")) {
      expect(bulkL2).toBeGreaterThan(logical); // record and batch headers on top
      expect(bulkL2).toBeLessThan(logical * 1.05);
    } else {
      // One batch holds all 20 units: the codec finds the 10 duplicate payloads inside it.
      expect(bulkL2).toBeLessThan(logical * 0.75);
    }
    expect(primary(s.reset, "L1")).toBe(0);
    expect(primary(s.reset, "L2")).toBe(0);
    expect(primary(s.perfile, "L1")).toBe(logical);
    // One batch per unit: random payloads do not compress alone, every copy is stored.
    expect(primary(s.perfile, "L2")).toBeGreaterThan(logical);
    expect(primary(s.deleted, "L1")).toBe(0);
    // Deleting frees nothing yet: DeleteRecords leaves the active segment, tombstones add records.
    expect(primary(s.deleted, "L2")).toBeGreaterThanOrEqual(primary(s.perfile, "L2")!);
    // After the wait only the segment-roll marker batches are left (≤ 2 per partition, ~90 B each).
    expect(primary(s.maintained, "L2")).toBeLessThan(400);
    expect(bytesOf(s.maintained, "kafka_logdirs_partition_bytes_one_replica")).toBe(primary(s.maintained, "L2"));

    const snap = r.snapshots[1] as { topics: { name: string; configs: Record<string, string> }[] };
    const [policy, codec] = variant.split("_");
    expect(snap.topics[0]!.configs["cleanup.policy"]).toBe(policy);
    expect(snap.topics[0]!.configs["compression.type"]).toBe(codec === "none" ? "uncompressed" : codec);
    expect((await withAdmin((a) => a.listTopics())).filter((t) => lab.isLabObject(t) && t !== lab.objectName("events"))).toEqual([]);
  });
});

describe("kafka connector, behaviour", () => {
  it("compaction keeps one record per key: U90 shrinks to about a tenth after compact_wait", async () => {
    const sys = kafkaSystem();
    const ds = smallDataset({ units: 40, fraction: 0.9 });
    await sys.connect();
    try {
      await sys.prepare(cell("compact_none"));
      for (const u of ds.units()) await sys.insert(u);
      const before = await sys.sizes();
      await sys.maintenance("compact_wait");
      const after = await sys.sizes();
      const l2Before = primary(before, "L2")!;
      const l2After = primary(after, "L2")!;
      const uniqueShare = ds.totals.unique_bytes / ds.totals.logical_bytes;
      expect(uniqueShare).toBeLessThan(0.15);
      expect(l2After).toBeLessThan(l2Before * (uniqueShare + 0.05));
      expect(l2After).toBeGreaterThan(ds.totals.unique_bytes);
      // L1 counts what was produced and not deleted: compaction is a physical (L2) effect.
      expect(primary(after, "L1")).toBe(primary(before, "L1"));
      await sys.cleanup();
    } finally {
      await sys.close();
    }
  });

  it.each(["compact_none", "delete_none"])("%s: deletes by id from refs without a hash (as the runner sends them), duplicates included", async (variant) => {
    const sys = kafkaSystem({ partitions: 2 });
    const ds = smallDataset({ units: 16, fraction: 0.5 });
    await sys.connect();
    try {
      await sys.prepare(cell(variant));
      for (const u of ds.units()) await sys.insert(u);
      // Deleting in reverse order: on a delete-policy topic a unit may already be gone with an earlier DeleteRecords.
      for (const u of [...ds.units()].reverse()) await sys.delete({ id: u.id, index: u.index, size: u.size, group: u.group, container: u.container, sha256: Buffer.alloc(0) });
      expect(primary(await sys.sizes(), "L1")).toBe(0);
      await sys.maintenance("compact_wait");
      expect(primary(await sys.sizes(), "L2")).toBeLessThan(2 * 200);
      await sys.cleanup();
    } finally {
      await sys.close();
    }
  });

  it("insert resolves on the broker's acknowledgement: the record is already readable", async () => {
    const sys = kafkaSystem();
    const c = cell("delete_none");
    const topic = lab.objectName(c.cellKey, "c0");
    const ds = smallDataset({ units: 5, fraction: 0 });
    await sys.connect();
    try {
      await sys.prepare(c);
      let n = 0;
      for (const u of ds.units()) {
        await sys.insert(u);
        n++;
        // Another client sees the high watermark past this record: acked by all in-sync replicas.
        const [p] = await withAdmin((a) => a.fetchTopicOffsets(topic));
        expect(Number(p!.high)).toBe(n);
      }
      const got = await consumeAll(topic, n);
      expect(got.map((m) => m.key)).toEqual([...ds.units()].map((u) => u.sha256.toString("hex")));
      await sys.cleanup();
    } finally {
      await sys.close();
    }
  });

  it.each(["lz4", "zstd"])("%s batches written by the connector read back intact", async (codec) => {
    const sys = kafkaSystem();
    const c = cell(`delete_${codec}`);
    const ds = smallDataset({ units: 12, fraction: 0.5 });
    await sys.connect();
    try {
      await sys.prepare(c);
      await sys.bulkInsert((async function* () { yield [...ds.units()]; })());
      const got = await consumeAll(lab.objectName(c.cellKey, "c0"), 12);
      const { createHash } = await import("node:crypto");
      for (const m of got) expect(createHash("sha256").update(m.value!).digest("hex")).toBe(m.key);
      await sys.cleanup();
    } finally {
      await sys.close();
    }
  });

  it("spreads units over partitions and containers; deletes on a delete-policy topic advance each partition", async () => {
    const sys = kafkaSystem({ partitions: 3 });
    const ds = smallDataset({ units: 24, fraction: 0.25, placement: "across", containers: 2 });
    const r = await runCellThrough(sys, { variant: "delete_none", dataset: ds });
    const snap = r.snapshots[1] as { topics: { partitions: unknown[]; offsets: { partition: number; low: string; high: string }[] }[] };
    expect(snap.topics).toHaveLength(2);
    for (const t of snap.topics) {
      expect(t.partitions).toHaveLength(3);
      // every per-unit record deleted: start offset = end offset - the marker
      for (const o of t.offsets) if (Number(o.high) > 1) expect(Number(o.low)).toBe(Number(o.high) - 1);
    }
    expect(primary(r.sizes.deleted, "L1")).toBe(0);
    expect(primary(r.sizes.maintained, "L2")).toBeLessThan(6 * 200);
  });

  it("refuses a replication factor above the broker count, before creating anything", async () => {
    const sys = kafkaSystem({ replicationFactor: 3 });
    const c = cell("delete_none");
    await sys.connect();
    try {
      const err = await sys.prepare(c).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SystemError);
      expect((err as Error).message).toBe(
        `kafka at ${brokers}: replicationFactor 3 exceeds the 1 broker(s) in the cluster — set options.replicationFactor to at most 1`,
      );
      expect(await withAdmin((a) => a.listTopics())).not.toContain(lab.objectName(c.cellKey, "c0"));
    } finally {
      await sys.close();
    }
  });

  it("refuses an unknown variant and an unknown maintenance", async () => {
    const sys = kafkaSystem();
    await sys.connect();
    try {
      await expect(sys.prepare(cell("compact_snappy"))).rejects.toThrow(/unknown variant "compact_snappy" — use one of: delete_none/);
      await sys.prepare(cell("delete_none"));
      await expect(sys.maintenance("vacuum")).rejects.toThrow(/unknown maintenance "vacuum" — use compact_wait/);
      await sys.cleanup();
    } finally {
      await sys.close();
    }
  });
});

async function consumeAll(topic: string, n: number): Promise<{ key: string; value: Buffer | null }[]> {
  registerKafkaCodecs();
  const kafka = new kafkajs.Kafka({ clientId: "dedup-lab-test", brokers: [brokers], logLevel: kafkajs.logLevel.NOTHING });
  const groupId = lab.objectName("test", Math.random().toString(36).slice(2, 8));
  const consumer = kafka.consumer({ groupId });
  const got: { key: string; value: Buffer | null }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${got.length} of ${n} records`)), 30_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          got.push({ key: message.key!.toString(), value: message.value });
          if (got.length >= n) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
    await withAdmin((a) => a.deleteGroups([groupId]));
  }
  return got;
}
