// The `systems.kafka.options` block and the client settings derived from it. One options
// shape serves the connector and the event stream; credentials are read from the
// environment variable the config names, at connect time, and never leave this file.
import { readFileSync } from "node:fs";
import type { KafkaConfig, SASLOptions } from "kafkajs";
import { z } from "zod";
import { SystemError } from "../../errors.js";

const BROKER_RE = /^[A-Za-z0-9.-]+:\d{1,5}$/;

const brokersSchema = z
  .union([z.string(), z.array(z.string()).min(1)])
  .transform((v) => (Array.isArray(v) ? v : v.split(",")).map((b) => b.trim()).filter((b) => b !== ""))
  .pipe(z.array(z.string().regex(BROKER_RE, "a broker is host:port")).min(1, "at least one broker"));

export const SASL_MECHANISMS = ["scram-sha-512", "scram-sha-256", "plain"] as const;

const saslSchema = z.union([
  z.literal("none"),
  z
    .object({
      mechanism: z.enum(SASL_MECHANISMS).default("scram-sha-512"),
      username: z.string().min(1),
      /** Name of the environment variable holding the password (never the password itself). */
      passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name"),
    })
    .strict(),
]);

const sslSchema = z.union([
  z.boolean(),
  z.object({ caFile: z.string().optional(), serverName: z.string().optional() }).strict(),
]);

/** How to reach a cluster: shared by the connector and the event stream. */
export const KafkaConnectionSchema = z.object({
  brokers: brokersSchema,
  sasl: saslSchema.default("none"),
  ssl: sslSchema.default(false),
  /** kafkajs retries per request before an operation fails (bounded so a dead broker fails fast). */
  retries: z.number().int().min(0).max(20).default(5),
  connectionTimeoutMs: z.number().int().min(100).default(3000),
  requestTimeoutMs: z.number().int().min(100).default(30000),
});
export type KafkaConnection = z.infer<typeof KafkaConnectionSchema>;

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

export function kafkaEndpoint(c: Pick<KafkaConnection, "brokers">): string {
  return c.brokers.join(",");
}

/** The SASL password from the environment, or a SystemError naming the variable (not its value). */
export function saslPassword(system: string, c: KafkaConnection): string | undefined {
  if (c.sasl === "none") return undefined;
  const v = process.env[c.sasl.passwordEnv];
  if (v === undefined || v === "") {
    throw new SystemError(system, kafkaEndpoint(c), `environment variable ${c.sasl.passwordEnv} (options.sasl.passwordEnv) is not set`);
  }
  return v;
}

function tlsOptions(c: KafkaConnection): boolean | { ca?: string[]; servername?: string; rejectUnauthorized: true } {
  if (c.ssl === false || c.ssl === true) return c.ssl;
  return {
    ca: c.ssl.caFile ? [readFileSync(c.ssl.caFile, "utf8")] : undefined,
    servername: c.ssl.serverName,
    rejectUnauthorized: true,
  };
}

/** kafkajs client settings; logging off (errors surface as thrown, one-line SystemErrors). */
export function kafkajsConfig(system: string, c: KafkaConnection, clientId: string): KafkaConfig {
  const password = saslPassword(system, c);
  const sasl: SASLOptions | undefined =
    c.sasl === "none" ? undefined : ({ mechanism: c.sasl.mechanism, username: c.sasl.username, password: password! } as SASLOptions);
  return {
    clientId,
    brokers: c.brokers,
    ssl: tlsOptions(c),
    sasl,
    connectionTimeout: c.connectionTimeoutMs,
    requestTimeout: c.requestTimeoutMs,
    retry: { retries: c.retries, initialRetryTime: 100, maxRetryTime: 2000 },
    logLevel: 0, // logLevel.NOTHING
  };
}

/** @platformatic/kafka client settings (used for DescribeLogDirs, DeleteRecords, IncrementalAlterConfigs). */
export function platformaticConfig(system: string, c: KafkaConnection, clientId: string) {
  const password = saslPassword(system, c);
  const tls = tlsOptions(c);
  return {
    clientId,
    bootstrapBrokers: c.brokers,
    connectTimeout: c.connectionTimeoutMs,
    requestTimeout: c.requestTimeoutMs,
    timeout: c.requestTimeoutMs,
    retries: c.retries,
    retryDelay: 200,
    ...(tls === false ? {} : { tls: tls === true ? {} : tls }),
    ...(c.sasl === "none"
      ? {}
      : { sasl: { mechanism: c.sasl.mechanism.toUpperCase() as "SCRAM-SHA-512" | "SCRAM-SHA-256" | "PLAIN", username: c.sasl.username, password } }),
  };
}
