// Connecting to a Kafka cluster: the connection block (shared by the connector and the run's
// event stream), client settings for kafkajs and @platformatic/kafka, the clients themselves,
// and the one-line error wording. Credentials are read from the environment variable the
// config names, at connect time, and never leave this file; any message is masked anyway.
import { Admin as LogDirsAdmin } from "@platformatic/kafka";
import { readFileSync } from "node:fs";
import kafkajs, { type Admin, type KafkaConfig, type Producer, type SASLOptions } from "kafkajs";
import { z } from "zod";
import { SystemError, errorMessage } from "../../errors.js";
import { maskEnvSecrets } from "../../masking.js";

const { Kafka } = kafkajs;

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

// ---- error wording ------------------------------------------------------------------------

interface ClientError {
  name?: string;
  message?: string;
  type?: string;
  cause?: unknown;
  errors?: unknown[];
}

function innermost(e: unknown): ClientError {
  let cur = e as ClientError;
  for (let i = 0; i < 5 && cur && typeof cur === "object"; i++) {
    const next = (cur.cause ?? (Array.isArray(cur.errors) ? cur.errors[0] : undefined)) as ClientError | undefined;
    if (!next || typeof next !== "object") break;
    cur = next;
  }
  return cur ?? {};
}

/** A one-line description of a Kafka client failure. */
export function describeKafkaError(e: unknown, c: KafkaConnection): string {
  const top = (e ?? {}) as ClientError;
  const inner = innermost(e);
  const text = [top.message, inner.message].filter(Boolean).join(" ");
  const mechanism = c.sasl === "none" ? "none" : c.sasl.mechanism.toUpperCase();
  let msg: string;
  if (top.type === "UNSUPPORTED_SASL_MECHANISM" || inner.type === "UNSUPPORTED_SASL_MECHANISM" || /UNSUPPORTED_SASL_MECHANISM|does not support the requested SASL mechanism/i.test(text)) {
    msg = `the broker does not offer SASL mechanism ${mechanism} on this listener — set options.sasl.mechanism to one it enables (e.g. scram-sha-512)`;
  } else if (top.name === "KafkaJSSASLAuthenticationError" || /authentication failed|SASL_AUTHENTICATION_FAILED|invalid credentials/i.test(text)) {
    const user = c.sasl === "none" ? "" : ` for user "${c.sasl.username}"`;
    const env = c.sasl === "none" ? "" : ` and the password in $${c.sasl.passwordEnv}`;
    msg = `SASL ${mechanism} authentication failed${user} — check options.sasl.username${env}`;
  } else if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|Connection timeout/i.test(text)) {
    const why = /ECONNREFUSED[^\s,)]*/.exec(text)?.[0] ?? /ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|Connection timeout/i.exec(text)?.[0];
    msg = `broker not reachable (${why}) — is it running and are options.brokers right? (local: scripts/services.sh up kafka)`;
  } else if (top.name === "KafkaJSConnectionClosedError" || /Closed connection|socket hang up|ECONNRESET/i.test(text)) {
    msg = `the broker closed the connection (${inner.message ?? top.message}) — does this listener need SASL or TLS? set options.sasl / options.ssl to match it`;
  } else {
    const first = (top.message || errorMessage(e)).split("\n")[0]!;
    const second = inner !== top && inner.message && inner.message !== top.message ? `: ${inner.message.split("\n")[0]}` : "";
    msg = first + second;
  }
  return scrub(msg.replace(/\s+/g, " ").trim(), c);
}

function scrub(text: string, c: KafkaConnection): string {
  return c.sasl === "none" ? text : maskEnvSecrets(text, [c.sasl.passwordEnv]);
}

/** Wrap a client failure as a SystemError for the system at the configured brokers. */
export function kafkaSystemError(system: string, c: KafkaConnection, doing: string, e: unknown): SystemError {
  if (e instanceof SystemError) return e;
  return new SystemError(system, kafkaEndpoint(c), `${doing}: ${describeKafkaError(e, c)}`, { cause: e });
}

// ---- the clients ----------------------------------------------------------------------------

export interface KafkaClientSet {
  admin: Admin;
  producer: Producer;
  logDirs: LogDirsAdmin;
}

/** kafkajs admin + producer and a @platformatic/kafka admin (DescribeLogDirs, DeleteRecords, IncrementalAlterConfigs). */
export class KafkaClients {
  private kafka?: InstanceType<typeof Kafka>;
  private admin?: Admin;
  private producer?: Producer;
  private logDirsAdmin?: LogDirsAdmin;

  constructor(
    private readonly system: string,
    private readonly c: KafkaConnection,
  ) {}

  get endpoint(): string {
    return kafkaEndpoint(this.c);
  }

  fail(doing: string, e: unknown): SystemError {
    return kafkaSystemError(this.system, this.c, doing, e);
  }

  async call<T>(doing: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.fail(doing, e);
    }
  }

  /** The kafkajs client (consumers for reading typed cells back). */
  client(): InstanceType<typeof Kafka> {
    if (!this.kafka) throw new SystemError(this.system, this.endpoint, "not connected (call connect() first)");
    return this.kafka;
  }

  get(): KafkaClientSet {
    if (!this.admin || !this.producer || !this.logDirsAdmin) throw new SystemError(this.system, this.endpoint, "not connected (call connect() first)");
    return { admin: this.admin, producer: this.producer, logDirs: this.logDirsAdmin };
  }

  async connect(): Promise<void> {
    await this.close();
    this.kafka = new Kafka(kafkajsConfig(this.system, this.c, "dedup-lab"));
    // Retries and their backoff come from the client settings (options.retries, 100 ms doubling to 2 s).
    this.admin = this.kafka.admin();
    this.producer = this.kafka.producer({ allowAutoTopicCreation: false, idempotent: false });
    await this.call("connect", async () => {
      await this.admin!.connect();
      await this.producer!.connect();
      // A SASL listener still answers ApiVersions without SASL: ask for metadata to be sure.
      await this.admin!.describeCluster();
    });
    this.logDirsAdmin = new LogDirsAdmin(platformaticConfig(this.system, this.c, "dedup-lab-logdirs"));
  }

  async close(): Promise<void> {
    const { admin, producer, logDirsAdmin } = this;
    this.admin = this.producer = this.logDirsAdmin = this.kafka = undefined;
    await Promise.allSettled([admin?.disconnect(), producer?.disconnect(), logDirsAdmin?.close()]);
  }
}
