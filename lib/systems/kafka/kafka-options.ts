// The `systems.kafka.options` block (the connection block of kafka-connection.ts plus topic
// and produce settings), what the connector can do, and its definition for the registry.
import { z } from "zod";
import { declareCapabilities } from "../capabilities.js";
import type { SystemDefinition } from "../contract.js";
import { KafkaConnectionSchema, kafkaEndpoint } from "./kafka-connection.js";
import { KafkaSystem } from "./kafka-system.js";
import { KAFKA_VARIANTS } from "./kafka-topics.js";
import { KAFKA_TYPED_MAPPING } from "./kafka-typed.js";

export const KafkaOptionsSchema = KafkaConnectionSchema.extend({
  /** Partitions per topic (one topic per container). */
  partitions: z.number().int().min(1).max(1000).default(1),
  /** Checked against the broker count at prepare: RF > brokers is refused. */
  replicationFactor: z.number().int().min(1).max(10).default(1),
  /** Upper bound of one produce request in the bulk path (bounds the record batch size). */
  produceBatchBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
  /** Produce requests in flight at once in the bulk path. */
  inFlight: z.number().int().min(1).max(64).default(4),
  /** Topic `max.message.bytes`: the largest record batch the topic accepts. */
  maxMessageBytes: z.number().int().min(1024).default(16 * 1024 * 1024),
  /** Upper bound for `compact_wait` to see sizes settle. */
  settleTimeoutMs: z.number().int().min(1000).default(120_000),
  /** The broker's log.dirs when it runs on this machine: lets the runner read allocated blocks (L3). */
  localLogDirs: z.array(z.string()).optional(),
}).strict();
export type KafkaOptions = z.infer<typeof KafkaOptionsSchema>;

const declared = declareCapabilities("kafka", {
  variants: KAFKA_VARIANTS,
  maintenance: {
    compact_wait:
      "roll every partition's active segment (short segment.ms + a marker record), let the log cleaner / retention check run, and poll DescribeLogDirs until sizes settle (bounded)",
  },
});
// Typed cells: declared for the default variant (delete_none: a natural-key duplicate is kept); the
// instance resolves it per cell once prepare() knows the variant (compact_*: replaced).
const capabilities = { ...declared, typed: { collision: "kept" as const, mapping: KAFKA_TYPED_MAPPING } };

export const kafkaDefinition: SystemDefinition<KafkaOptions> = {
  name: "kafka",
  description: "Apache Kafka (kafkajs + @platformatic/kafka): one topic per container, key = SHA-256; cleanup.policy × compression variants",
  capabilities,
  options: KafkaOptionsSchema,
  endpoint: (o) => kafkaEndpoint(o),
  create: (o, lab) => new KafkaSystem(o, lab, capabilities),
};
