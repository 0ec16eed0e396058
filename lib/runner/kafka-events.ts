// Optional per-stage event stream: one JSON record per stage start/end/error, to the Kafka
// topic `<prefix>-lab-events` keyed by run id, so a cluster dashboard can follow a run.
// Off the measurement path: emit() only queues; a background pump sends in batches, and a
// broker that is down costs failed events (counted, reported by close()), never a stalled run.
//
//   const events = await KafkaEventStream.open(KafkaEventsConfigSchema.parse(config.events), lab);
//   events.emit({ run_id, cell, system, stage: "bulk_insert", event: "start" });
//   …
//   const { sent, failed, lastError } = await events.close();
import kafkajs, { type Admin, type Message, type Producer } from "kafkajs";
import { z } from "zod";
import { SystemError, UsageError } from "../errors.js";
import type { Cell } from "./matrix.js";
import type { RunEvents } from "./events.js";
import type { LabNamespace } from "../systems/namespace.js";
import { describeKafkaError } from "../systems/kafka/kafka-connection.js";
import { KafkaConnectionSchema, kafkaEndpoint, kafkajsConfig, type KafkaConnection } from "../systems/kafka/kafka-connection.js";

const { Kafka } = kafkajs;
const SYSTEM = "kafka events";

/** The `events:` block of a run config: where the stream goes. Present and enabled = on. */
export const KafkaEventsConfigSchema = KafkaConnectionSchema.extend({
  enabled: z.boolean().default(true),
  /** Used only when the topic does not exist yet. */
  partitions: z.number().int().min(1).default(1),
  replicationFactor: z.number().int().min(1).default(1),
  /** Events kept while the broker is unreachable; older ones are dropped (and counted as failed). */
  maxQueued: z.number().int().min(1).default(10_000),
}).strict();
export type KafkaEventsConfig = z.infer<typeof KafkaEventsConfigSchema>;

export type StageEventKind = "start" | "end" | "error";

export interface StageEvent {
  run_id: string;
  /** Cell key of the matrix cell (or "" for run-level events). */
  cell: string;
  system: string;
  stage: string;
  event: StageEventKind;
  /** ISO 8601; defaults to the time emit() was called. */
  ts?: string;
  /** Any JSON: counts, durations, the one-line error message. Never credentials. */
  detail?: unknown;
}

export interface EventStreamSummary {
  topic: string;
  sent: number;
  failed: number;
  lastError?: string;
}

export class KafkaEventStream {
  private sent = 0;
  private failed = 0;
  private lastError?: string;
  private queue: Message[] = [];
  private pump?: Promise<void>;
  private closed = false;

  private constructor(
    readonly topic: string,
    private readonly config: KafkaEventsConfig,
    private readonly admin: Admin,
    private readonly producer: Producer,
  ) {}

  /** Connect and make sure the events topic exists (created with a delete policy if missing). */
  static async open(config: KafkaEventsConfig, lab: LabNamespace): Promise<KafkaEventStream> {
    const topic = lab.objectName("events");
    const kafka = new Kafka(kafkajsConfig(SYSTEM, config, "dedup-lab-events"));
    const admin = kafka.admin();
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    try {
      await admin.connect();
      await producer.connect();
      const topics = await admin.listTopics();
      if (!topics.includes(topic)) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: [{ topic, numPartitions: config.partitions, replicationFactor: config.replicationFactor, configEntries: [{ name: "cleanup.policy", value: "delete" }] }],
        });
      }
    } catch (e) {
      await Promise.allSettled([admin.disconnect(), producer.disconnect()]);
      throw new SystemError(SYSTEM, kafkaEndpoint(config), `open ${topic}: ${describeKafkaError(e, config)}`, { cause: e });
    }
    return new KafkaEventStream(topic, config, admin, producer);
  }

  /** Queue one event; returns at once. */
  emit(event: StageEvent): void {
    if (this.closed) {
      this.failed++;
      this.lastError = "emit after close";
      return;
    }
    const value = {
      run_id: event.run_id,
      cell: event.cell,
      system: event.system,
      stage: event.stage,
      event: event.event,
      ts: event.ts ?? new Date().toISOString(),
      detail: event.detail ?? null,
    };
    this.queue.push({ key: event.run_id, value: JSON.stringify(value) });
    if (this.queue.length > this.config.maxQueued) {
      this.queue.shift();
      this.failed++;
      this.lastError = `queue full (${this.config.maxQueued}): oldest event dropped`;
    }
    this.pump ??= this.drain().finally(() => (this.pump = undefined));
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      try {
        await this.producer.send({ topic: this.topic, acks: -1, messages: batch });
        this.sent += batch.length;
      } catch (e) {
        this.failed += batch.length;
        this.lastError = describeKafkaError(e, this.config as KafkaConnection);
      }
    }
  }

  /** Wait until everything emitted so far was sent (or failed). */
  async flush(): Promise<void> {
    while (this.pump) await this.pump;
  }

  /** Flush, disconnect, and say how it went. The topic is kept (dashboards read it after the run). */
  async close(): Promise<EventStreamSummary> {
    await this.flush();
    this.closed = true;
    await Promise.allSettled([this.producer.disconnect(), this.admin.disconnect()]);
    return { topic: this.topic, sent: this.sent, failed: this.failed, ...(this.lastError ? { lastError: this.lastError } : {}) };
  }

  /** Delete the events topic, if any (explicit cleanup; the kafka connector's cleanup leaves it alone). */
  static async deleteTopic(config: KafkaEventsConfig, lab: LabNamespace): Promise<void> {
    const topic = lab.objectName("events");
    const admin = new Kafka(kafkajsConfig(SYSTEM, config, "dedup-lab-events")).admin();
    try {
      await admin.connect();
      if ((await admin.listTopics()).includes(topic)) await admin.deleteTopics({ topics: [topic] });
    } catch (e) {
      throw new SystemError(SYSTEM, kafkaEndpoint(config), `delete ${topic}: ${describeKafkaError(e, config)}`, { cause: e });
    } finally {
      await admin.disconnect();
    }
  }
}

/** Validate the run config's `events` block (bad input → one line, exit 2); undefined when absent or disabled. */
export function eventsConfig(raw: unknown): KafkaEventsConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  const r = KafkaEventsConfigSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new UsageError(`events${issue.path.length ? `.${issue.path.join(".")}` : ""}: ${issue.message}`, "write events: { brokers: host:port, sasl: … } (see README)");
  }
  return r.data.enabled ? r.data : undefined;
}

/** Publishes the runner's stage boundaries to the stream so a cluster dashboard can follow a run. */
export function stageEventListener(stream: KafkaEventStream): RunEvents {
  let runId = "";
  const cellEvent = (c: Cell, stage: string, event: StageEventKind, detail?: unknown) =>
    stream.emit({ run_id: runId, cell: c.key, system: c.system.name, stage, event, detail: { cell_id: c.id, ...(detail as object) } });
  return {
    runStart: (i) => {
      runId = i.runId;
      stream.emit({ run_id: runId, cell: "", system: "", stage: "run", event: "start", detail: { cells: i.cells, skipped: i.skipped } });
    },
    stageStart: (c, s) => cellEvent(c, s, "start"),
    stageEnd: (c, s, m) => cellEvent(c, s, "end", { duration_s: m.durationNs / 1e9, bytes: m.bytes, units: m.units }),
    cellEnd: (c, r) => {
      if (r.status === "failed") cellEvent(c, "cell", "error", { error: r.error });
    },
    runEnd: (i) => stream.emit({ run_id: runId, cell: "", system: "", stage: "run", event: "end", detail: { done: i.done, failed: i.failed, interrupted: i.interrupted } }),
  };
}
