// Audit: the connector touches only lab topics. A topic created beforehand outside the lab
// prefix keeps its configuration, offsets and records through full cells of every cleanup
// policy; after cleanup no lab topic is left.
import { createHash } from "node:crypto";
import kafkajs from "kafkajs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { LabNamespace } from "../../lib/systems/namespace.js";
import { kafkaDefinition } from "../../lib/systems/kafka/kafka-options.js";
import { runCellThrough, smallDataset } from "../helpers/contract-harness.js";
import { loadServicesEnv } from "../helpers/services-env.js";

const lab = new LabNamespace();
const OUTSIDE = "audit-outside-lab-" + Math.random().toString(36).slice(2, 8);
let kafka: kafkajs.Kafka;
let admin: kafkajs.Admin;
let brokers = "";

interface TopicState {
  configs: Record<string, string>;
  offsets: { partition: number; low: string; high: string }[];
  records: string[];
}

async function state(topic: string): Promise<TopicState> {
  const cfg = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic }] });
  const configs = Object.fromEntries(cfg.resources[0]!.configEntries.map((c) => [c.configName, c.configValue]));
  const offsets = (await admin.fetchTopicOffsets(topic)).map(({ partition, low, high }) => ({ partition, low, high })).sort((a, b) => a.partition - b.partition);
  const total = offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
  const groupId = lab.objectName("audit", Math.random().toString(36).slice(2, 8));
  const consumer = kafka.consumer({ groupId });
  const records: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${records.length} of ${total}`)), 30_000);
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          records.push(`${partition}/${message.offset}/${message.key}/${createHash("sha256").update(message.value ?? "").digest("hex")}`);
          if (records.length >= total) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
    await admin.deleteGroups([groupId]);
  }
  return { configs, offsets, records: records.sort() };
}

beforeAll(async () => {
  brokers = loadServicesEnv().DEDUP_KAFKA_BROKERS!;
  kafka = new kafkajs.Kafka({ clientId: "dedup-lab-audit", brokers: [brokers], logLevel: kafkajs.logLevel.NOTHING });
  admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic: OUTSIDE, numPartitions: 2, replicationFactor: 1, configEntries: [{ name: "cleanup.policy", value: "compact" }, { name: "retention.ms", value: "86400000" }] }],
  });
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({
    topic: OUTSIDE,
    acks: -1,
    messages: Array.from({ length: 12 }, (_, i) => ({ key: `k${i % 5}`, value: `outside record ${i}` })),
  });
  await producer.disconnect();
});

afterAll(async () => {
  await admin.deleteTopics({ topics: [OUTSIDE] });
  await admin.disconnect();
});

it("a topic outside the lab prefix is intact after full cells, and cleanup leaves no lab topic", async () => {
  const before = await state(OUTSIDE);
  expect(before.records).toHaveLength(12);
  for (const variant of ["delete_zstd", "compact_none"]) {
    const sys = kafkaDefinition.create(kafkaDefinition.options.parse({ brokers, partitions: 2 }), lab);
    await runCellThrough(sys, { variant, dataset: smallDataset({ units: 16, fraction: 0.5, placement: "across", containers: 2 }) });
  }
  expect(await state(OUTSIDE)).toEqual(before);
  const topics = await admin.listTopics();
  expect(topics).toContain(OUTSIDE);
  expect(topics.filter((t) => t.startsWith("dedup-lab-"))).toEqual([]);
});
