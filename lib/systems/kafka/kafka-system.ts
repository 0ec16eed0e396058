// Apache Kafka through kafkajs (produce, topics, metadata) and @platformatic/kafka (the admin
// calls kafkajs lacks: DescribeLogDirs, DeleteRecords, IncrementalAlterConfigs). One topic per
// container; the record key is the payload's hex SHA-256, so a compacted topic can dedup by key.
// The contract only: clients, settings and error wording in kafka-connection.ts, topic
// settings in kafka-topics.ts, codecs in kafka-codecs.ts, what was produced in kafka-ledger.ts,
// size readings in kafka-sizes.ts, options and definition in kafka-options.ts.
import type { Admin, Message, Producer } from "kafkajs";
import kafkajs from "kafkajs";
import { ConfigResourceTypes, IncrementalAlterConfigOperationTypes } from "@platformatic/kafka";
import { join } from "node:path";
import { SystemError } from "../../errors.js";
import type { LabNamespace } from "../namespace.js";
import {
  OK, recordOf, type Capabilities, type CellContext, type LabSystem, type OpStatus, type RecordValues, type SizeReading, type TypedCell, type Unit, type UnitRef,
} from "../contract.js";
import { decodeRecord } from "../../generators/records.js";
import { kafkajsCompression, registerKafkaCodecs } from "./kafka-codecs.js";
import { KafkaClients, type KafkaClientSet } from "./kafka-connection.js";
import { KafkaLedger } from "./kafka-ledger.js";
import type { KafkaOptions } from "./kafka-options.js";
import { jsonSafe, kafkaSizeReadings, logDirTotals, type LogDirsAnswer } from "./kafka-sizes.js";
import {
  cellTopicPattern, compactionOverrides, KAFKA_VARIANTS, parseVariant, ROLL_MARKER_KEY, ROLL_SEGMENT_MS, settleWindowMs, topicConfigs,
  type TopicVariant,
} from "./kafka-topics.js";
import { decodeTypedValue, encodeTypedValue, typedKey } from "./kafka-typed.js";

const { ConfigResourceTypes: KafkajsResourceTypes } = kafkajs;
const SYSTEM = "kafka";
const ACKS_ALL = -1;
/** How long reading a cell's topics back to their end offsets may take. */
const READ_BACK_MS = 30_000;
/** How long topic creation/deletion may take to show in metadata before we give up. */
const TOPIC_WAIT_MS = 30_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class KafkaSystem implements LabSystem {
  readonly name = SYSTEM;
  private readonly kafka: KafkaClients;
  private cell?: CellContext;
  private variant?: TopicVariant;
  private topics: string[] = [];
  private readonly ledger = new KafkaLedger();
  /** The typed cell (absent: a blob cell). */
  private typed?: TypedCell;

  constructor(
    private readonly options: KafkaOptions,
    private readonly lab: LabNamespace,
    private readonly declared: Capabilities,
  ) {
    registerKafkaCodecs();
    this.kafka = new KafkaClients(SYSTEM, options);
  }

  /**
   * The declared capabilities; once prepare() knows the cell's variant, typed.collision says what a
   * natural-key duplicate meets on it: kept on a delete-policy topic, replaced on a compacted one
   * (compaction keeps the latest message per key; settle() of a typed compact cell runs it).
   */
  get capabilities(): Capabilities {
    if (!this.declared.typed || !this.variant) return this.declared;
    return { ...this.declared, typed: { ...this.declared.typed, collision: this.variant.cleanupPolicy === "compact" ? "replaced" : "kept" } };
  }

  private get endpoint(): string {
    return this.kafka.endpoint;
  }

  private fail(doing: string, e: unknown): SystemError {
    return this.kafka.fail(doing, e);
  }

  private call<T>(doing: string, fn: () => Promise<T>): Promise<T> {
    return this.kafka.call(doing, fn);
  }

  private clients(): KafkaClientSet {
    return this.kafka.get();
  }

  async connect(): Promise<void> {
    await this.kafka.connect();
  }

  async close(): Promise<void> {
    await this.kafka.close();
  }

  private topic(container: number): string {
    return this.topics[container] ?? this.lab.objectName(this.cell!.cellKey, `c${container}`);
  }

  async prepare(cell: CellContext): Promise<void> {
    const variant = parseVariant(cell.variant);
    if (!variant) throw new SystemError(SYSTEM, this.endpoint, `unknown variant "${cell.variant}" — use one of: ${Object.keys(KAFKA_VARIANTS).join(", ")}`);
    this.cell = cell;
    this.variant = variant;
    this.typed = cell.typed;
    this.topics = Array.from({ length: cell.containers }, (_, k) => this.lab.objectName(cell.cellKey, `c${k}`));
    const { admin } = this.clients();
    const cluster = await this.call("describe cluster", () => admin.describeCluster());
    if (this.options.replicationFactor > cluster.brokers.length) {
      throw new SystemError(
        SYSTEM, this.endpoint,
        `replicationFactor ${this.options.replicationFactor} exceeds the ${cluster.brokers.length} broker(s) in the cluster — set options.replicationFactor to at most ${cluster.brokers.length}`,
      );
    }
    const pattern = cellTopicPattern(this.lab.objectName(cell.cellKey));
    const leftovers = (await this.listLabTopics()).filter((t) => pattern.test(t));
    await this.deleteTopics(leftovers);
    await this.createTopics();
    this.ledger.clear();
  }

  private async listLabTopics(): Promise<string[]> {
    const all = await this.call("list topics", () => this.clients().admin.listTopics());
    return all.filter((t) => this.lab.isLabObject(t));
  }

  private async deleteTopics(topics: string[]): Promise<void> {
    if (topics.length === 0) return;
    for (const t of topics) if (!this.lab.isLabObject(t)) throw new SystemError(SYSTEM, this.endpoint, `refusing to delete non-lab topic ${t}`);
    const { admin } = this.clients();
    await this.call(`delete topics ${topics.join(",")}`, () => admin.deleteTopics({ topics, timeout: TOPIC_WAIT_MS }));
    const deadline = Date.now() + TOPIC_WAIT_MS;
    for (;;) {
      const left = new Set(await this.call("list topics", () => admin.listTopics()));
      if (!topics.some((t) => left.has(t))) return;
      if (Date.now() > deadline) throw new SystemError(SYSTEM, this.endpoint, `topics still listed ${TOPIC_WAIT_MS / 1000}s after deletion: ${topics.filter((t) => left.has(t)).join(",")}`);
      await sleep(100);
    }
  }

  private async createTopics(): Promise<void> {
    const { admin } = this.clients();
    const configs = topicConfigs(this.variant!, this.options.maxMessageBytes);
    const deadline = Date.now() + TOPIC_WAIT_MS;
    for (;;) {
      let created: boolean | undefined;
      try {
        created = await admin.createTopics({
          waitForLeaders: false,
          timeout: TOPIC_WAIT_MS,
          topics: this.topics.map((topic) => ({
            topic,
            numPartitions: this.options.partitions,
            replicationFactor: this.options.replicationFactor,
            configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })),
          })),
        });
      } catch (e) {
        // A broker just (re)started or a deletion still settling answers with retriable errors for a while.
        if (!(e as { retriable?: boolean }).retriable || Date.now() > deadline) throw this.fail(`create topics ${this.topics.join(",")}`, e);
      }
      if (created === true) break;
      if (created === false) {
        // false = a topic of that name exists: a deletion not finished yet, or all ours already.
        const existing = new Set(await this.call("list topics", () => admin.listTopics()));
        if (this.topics.every((t) => existing.has(t))) {
          await this.checkTopicConfigs(configs);
          break;
        }
      }
      if (Date.now() > deadline) throw new SystemError(SYSTEM, this.endpoint, `could not create topics ${this.topics.join(",")} within ${TOPIC_WAIT_MS / 1000}s`);
      await sleep(200);
    }
    await this.waitForLeaders(deadline);
  }

  /** Until every partition of the cell's topics has a leader that answers for it. */
  private async waitForLeaders(deadline: number): Promise<void> {
    const { admin } = this.clients();
    for (;;) {
      let lastError: unknown;
      try {
        const md = await admin.fetchTopicMetadata({ topics: this.topics });
        const ready = md.topics.length === this.topics.length &&
          md.topics.every((t) => t.partitions.length === this.options.partitions && t.partitions.every((p) => p.leader >= 0));
        // The leader serves the partition only once it has applied the metadata: ask it for offsets.
        if (ready) {
          for (const t of this.topics) await admin.fetchTopicOffsets(t);
          return;
        }
      } catch (e) {
        lastError = e;
      }
      if (Date.now() > deadline) {
        throw lastError ? this.fail("wait for partition leaders", lastError) : new SystemError(SYSTEM, this.endpoint, `partitions of ${this.topics.join(",")} have no leader after ${TOPIC_WAIT_MS / 1000}s`);
      }
      await sleep(100);
    }
  }

  private async checkTopicConfigs(expected: Record<string, string>): Promise<void> {
    const actual = await this.topicConfigs();
    for (const t of this.topics) {
      for (const [k, v] of Object.entries(expected)) {
        if (actual[t]?.[k] !== v) throw new SystemError(SYSTEM, this.endpoint, `topic ${t} exists with ${k}=${actual[t]?.[k]}, expected ${v}`);
      }
    }
  }

  private async topicConfigs(): Promise<Record<string, Record<string, string>>> {
    const { admin } = this.clients();
    const res = await this.call("describe topic configs", () =>
      admin.describeConfigs({ includeSynonyms: false, resources: this.topics.map((name) => ({ type: KafkajsResourceTypes.TOPIC, name })) }),
    );
    const out: Record<string, Record<string, string>> = {};
    for (const r of res.resources) {
      out[r.resourceName] = Object.fromEntries(r.configEntries.filter((c) => !c.isDefault).map((c) => [c.configName, c.configValue]));
    }
    return out;
  }

  /** Blob cells: key = hex SHA-256, value = the payload. Typed cells: key = unit id or natural key, value = the record as JSON (kafka-typed.ts). */
  private message(u: Pick<Unit, "id" | "sha256" | "payload">): Message {
    const t = this.typed;
    if (!t) return { key: u.sha256.toString("hex"), value: u.payload };
    const values = decodeRecord(t.schema, u.payload);
    return { key: typedKey(t.schema, t.keys, u.id, values), value: encodeTypedValue(t.schema, values) };
  }

  /** Logical bytes of a produced message for L1 (blob: 64 + payload, as before; typed: key + value). */
  private messageBytes(u: Unit, m: Message): number {
    return this.typed ? Buffer.byteLength(m.key as string) + (m.value as Buffer).length : 64 + u.payload.length;
  }

  private get compression(): number {
    return kafkajsCompression(this.variant!.compression);
  }

  async bulkInsert(batches: AsyncIterable<Unit[]>): Promise<OpStatus> {
    const { producer } = this.clients();
    const limit = this.options.produceBatchBytes;
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    const dispatch = (chunk: Map<number, Message[]>, bytes: number) => {
      const p = producer
        .sendBatch({
          acks: ACKS_ALL,
          timeout: this.options.requestTimeoutMs,
          compression: this.compression,
          topicMessages: [...chunk].map(([c, messages]) => ({ topic: this.topic(c), messages })),
        })
        .then(
          () => this.ledger.addBulk(bytes),
          (e) => { failure ??= e; },
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    };
    let chunk = new Map<number, Message[]>();
    let bytes = 0;
    for await (const batch of batches) {
      for (const u of batch) {
        const m = this.message(u);
        let list = chunk.get(u.container);
        if (!list) chunk.set(u.container, (list = []));
        list.push(m);
        bytes += this.messageBytes(u, m);
        if (bytes >= limit) {
          dispatch(chunk, bytes);
          chunk = new Map();
          bytes = 0;
          while (inFlight.size >= this.options.inFlight) await Promise.race(inFlight);
          if (failure) break;
        }
      }
      if (failure) break;
    }
    if (!failure && bytes > 0) dispatch(chunk, bytes);
    await Promise.all(inFlight);
    if (failure) throw this.fail("bulk produce (acks=all)", failure);
    return OK;
  }

  async insert(u: Unit): Promise<OpStatus> {
    const { producer } = this.clients();
    const m = this.message(u);
    const topic = this.topic(u.container);
    // Resolves when the broker has acknowledged the write to all in-sync replicas.
    const [meta] = await this.call(`produce ${u.id} (acks=all)`, () =>
      producer.send({ topic, acks: ACKS_ALL, timeout: this.options.requestTimeoutMs, compression: this.compression, messages: [m] }),
    );
    if (!meta || meta.baseOffset === undefined) throw new SystemError(SYSTEM, this.endpoint, `produce ${u.id}: no offset in the acknowledgement`);
    this.ledger.add({ id: u.id, container: u.container, key: m.key as string, partition: meta.partition, offset: Number(meta.baseOffset), bytes: this.messageBytes(u, m) });
    return OK;
  }

  async delete(u: UnitRef): Promise<OpStatus> {
    const topic = this.topic(u.container);
    const placed = this.ledger.placement(u.id);
    if (this.variant!.cleanupPolicy === "compact") {
      // The key this unit was written with: a typed record's (its natural key is in the ref's record), a blob's content hash.
      const t = this.typed;
      const fail = (m: string) => new SystemError(SYSTEM, this.endpoint, m);
      const key = t
        ? typedKey(t.schema, t.keys, u.id, t.keys === "natural" ? recordOf(u, fail).values : [])
        : (placed?.key ?? (u.sha256.length === 32 ? u.sha256.toString("hex") : undefined));
      if (!key) throw fail(`delete ${u.id}: its key is unknown (not written by insert() in this cell, and the ref has no SHA-256)`);
      // A tombstone: the cleaner drops every record with this key (and later the tombstone).
      await this.call(`tombstone ${u.id}`, () =>
        this.clients().producer.send({ topic, acks: ACKS_ALL, timeout: this.options.requestTimeoutMs, compression: this.compression, messages: [{ key, value: null }] }),
      );
      this.ledger.removeKey(u.container, key);
      return OK;
    }
    // A delete-policy topic cannot drop one record: DeleteRecords moves the partition's start
    // offset past this unit's record (records before it, if any are left, go with it).
    if (!placed) {
      throw new SystemError(SYSTEM, this.endpoint, `delete ${u.id}: no offset recorded for it in ${topic} (only units written by insert() in this cell can be deleted on a delete-policy topic)`);
    }
    const target = placed.offset + 1;
    if (target > this.ledger.startOffset(u.container, placed.partition)) {
      await this.call(`DeleteRecords ${topic}/${placed.partition} before offset ${target}`, () =>
        this.clients().logDirs.deleteRecords({ topics: [{ name: topic, partitions: [{ partition: placed.partition, offset: BigInt(target) }] }] }),
      );
    }
    this.ledger.removeBelow(u.container, placed.partition, target);
    return OK;
  }

  /**
   * Blob cells: nothing to wait for (with acks=all every batch is in its log segment, and in
   * DescribeLogDirs, when acknowledged; compaction is the maintenance stage's job). Typed cells on a
   * compacted topic: a natural-key duplicate is replaced only when the cleaner compacts the rolled
   * segment, so settle rolls the segments and waits for the cleaner (one compact_wait round): the
   * records held no longer depend on when the cleaner happens to run.
   */
  async settle(): Promise<OpStatus> {
    if (this.typed && this.variant?.cleanupPolicy === "compact" && this.topics.length > 0) await this.compactRounds(1);
    return OK;
  }

  async maintenance(name: string): Promise<OpStatus> {
    if (name !== "compact_wait") throw new SystemError(SYSTEM, this.endpoint, `unknown maintenance "${name}" — use compact_wait`);
    // Compacted topics take two rounds: the first pass drops superseded records and stamps
    // tombstones with their delete horizon; only a later pass (which needs a dirty segment
    // again: the second marker) drops the tombstones themselves.
    await this.compactRounds(this.variant!.cleanupPolicy === "compact" ? 2 : 1);
    return OK;
  }

  /** Roll every partition's active segment `rounds` times under the compaction overrides, waiting for sizes to settle after each. */
  private async compactRounds(rounds: number): Promise<void> {
    const overrides = compactionOverrides(this.variant!);
    const before = await this.topicConfigs();
    await this.alterTopicConfigs(Object.fromEntries(this.topics.map((t) => [t, overrides])));
    try {
      await this.waitForTopicConfig("segment.ms", String(ROLL_SEGMENT_MS));
      for (let round = 0; round < rounds; round++) {
        await sleep(ROLL_SEGMENT_MS + 200);
        await this.produceRollMarkers();
        await this.waitUntilSizesSettle();
      }
    } finally {
      // Put back what the topics had before (an override they did not have is removed).
      const restore: Record<string, Record<string, string | null>> = {};
      for (const t of this.topics) restore[t] = Object.fromEntries(Object.keys(overrides).map((k) => [k, before[t]?.[k] ?? null]));
      await this.alterTopicConfigs(restore);
    }
  }

  private async alterTopicConfigs(byTopic: Record<string, Record<string, string | null>>): Promise<void> {
    const { logDirs } = this.clients();
    await this.call("alter topic configs", () =>
      logDirs.incrementalAlterConfigs({
        resources: Object.entries(byTopic).map(([topic, configs]) => ({
          resourceType: ConfigResourceTypes.TOPIC,
          resourceName: topic,
          configs: Object.entries(configs).map(([name, value]) =>
            value === null
              ? { name, configOperation: IncrementalAlterConfigOperationTypes.DELETE }
              : { name, configOperation: IncrementalAlterConfigOperationTypes.SET, value },
          ),
        })),
      }),
    );
  }

  private async waitForTopicConfig(name: string, value: string): Promise<void> {
    const deadline = Date.now() + TOPIC_WAIT_MS;
    for (;;) {
      const configs = await this.topicConfigs();
      if (this.topics.every((t) => configs[t]?.[name] === value)) return;
      if (Date.now() > deadline) throw new SystemError(SYSTEM, this.endpoint, `topic config ${name}=${value} not visible after ${TOPIC_WAIT_MS / 1000}s`);
      await sleep(100);
    }
  }

  /** A null-valued record in every partition: the append rolls the (now old) active segment. */
  private async produceRollMarkers(): Promise<void> {
    const { producer } = this.clients();
    await this.call("produce segment-roll markers", () =>
      producer.sendBatch({
        acks: ACKS_ALL,
        timeout: this.options.requestTimeoutMs,
        compression: this.compression,
        topicMessages: this.topics.map((topic) => ({
          topic,
          messages: Array.from({ length: this.options.partitions }, (_, partition) => ({ key: ROLL_MARKER_KEY, value: null, partition })),
        })),
      }),
    );
  }

  private async brokerConfig(): Promise<Record<string, string | undefined>> {
    const { admin } = this.clients();
    const cluster = await this.call("describe cluster", () => admin.describeCluster());
    const names = ["log.cleaner.backoff.ms", "log.retention.check.interval.ms", "log.cleaner.enable"];
    const res = await this.call("describe broker configs", () =>
      admin.describeConfigs({ includeSynonyms: false, resources: [{ type: KafkajsResourceTypes.BROKER, name: String(cluster.brokers[0]!.nodeId), configNames: names }] }),
    );
    return Object.fromEntries(res.resources[0]!.configEntries.map((c) => [c.configName, c.configValue]));
  }

  private async waitUntilSizesSettle(): Promise<void> {
    const broker = await this.brokerConfig();
    if (this.variant!.cleanupPolicy === "compact" && broker["log.cleaner.enable"] === "false") {
      throw new SystemError(SYSTEM, this.endpoint, "log.cleaner.enable=false on the broker: compacted topics are never cleaned — enable the log cleaner");
    }
    const window = settleWindowMs(broker);
    const deadline = Date.now() + this.options.settleTimeoutMs;
    let last = -1;
    let since = Date.now();
    for (;;) {
      const totals = await this.logDirTotals();
      if (totals.allReplicas !== last) {
        last = totals.allReplicas;
        since = Date.now();
      } else if (Date.now() - since >= window) {
        this.cell?.log(`kafka compact_wait: sizes unchanged for ${window} ms at ${last} bytes`);
        return;
      }
      if (Date.now() > deadline) {
        throw new SystemError(SYSTEM, this.endpoint, `log sizes did not settle within ${this.options.settleTimeoutMs / 1000}s (still changing, last ${last} bytes) — raise options.settleTimeoutMs`);
      }
      await sleep(250);
    }
  }

  // ---- typed records ----------------------------------------------------------------------

  /** Typed cells: records readable in the cell's topics (messages with a value, segment-roll markers excluded), read to the end offsets. */
  async storedRecords(): Promise<number | null> {
    if (!this.typed) return null;
    let n = 0;
    await this.readBack(() => {
      n++;
    });
    return n;
  }

  /** Typed cells: every record readable in the cell's topics, decoded from its JSON value. */
  async *readRecords(): AsyncIterable<RecordValues> {
    const t = this.typed;
    if (!t) throw new SystemError(SYSTEM, this.endpoint, "readRecords: not a typed cell");
    const values: Buffer[] = [];
    await this.readBack((v) => {
      values.push(v);
    });
    for (const v of values) yield decodeTypedValue(t.schema, v);
  }

  /**
   * Consume every partition of the cell's topics from its start to the high watermark read first,
   * with a lab-named consumer group that is deleted afterwards; `each` gets every value that is a
   * record (not a tombstone, not a segment-roll marker). Compacted partitions have offset gaps:
   * a partition is done once a batch reaches its last offset (the last message is never compacted
   * away here: it is the latest of its key, or the roll marker in the active segment).
   */
  private async readBack(each: (value: Buffer) => void): Promise<void> {
    const { admin } = this.clients();
    const ends = new Map<string, bigint>();
    for (const topic of this.topics) {
      const offsets = await this.call(`fetch offsets of ${topic}`, () => admin.fetchTopicOffsets(topic));
      for (const p of offsets) if (BigInt(p.high) > BigInt(p.low)) ends.set(`${topic}/${p.partition}`, BigInt(p.high));
    }
    if (ends.size === 0) return;
    const kafka = this.kafka.client();
    const groupId = this.lab.objectName(this.cell!.cellKey, "read", Math.random().toString(36).slice(2, 8));
    const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxBytesPerPartition: this.options.maxMessageBytes });
    const left = new Set(ends.keys());
    try {
      await this.call("connect consumer", () => consumer.connect());
      await this.call("subscribe", () => consumer.subscribe({ topics: this.topics, fromBeginning: true }));
      await this.call(`read back ${this.topics.join(",")}`, () => new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`partitions ${[...left].join(", ")} not read to their end offsets within ${READ_BACK_MS / 1000}s`)), READ_BACK_MS);
        consumer.run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const k = `${batch.topic}/${batch.partition}`;
            const end = ends.get(k);
            for (const m of batch.messages) {
              if (end !== undefined && BigInt(m.offset) >= end) break;
              if (m.value === null || m.key?.toString() === ROLL_MARKER_KEY) continue;
              each(m.value);
            }
            const last = batch.messages.length ? BigInt(batch.messages[batch.messages.length - 1]!.offset) : -1n;
            if (end !== undefined && last >= end - 1n && left.delete(k) && left.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        }).catch((e: unknown) => {
          clearTimeout(timer);
          reject(e);
        });
      }));
    } finally {
      await consumer.disconnect().catch(() => {});
      await admin.deleteGroups([groupId]).catch(() => {});
    }
  }

  async reset(): Promise<void> {
    await this.deleteTopics(this.topics);
    await this.createTopics();
    this.ledger.clear();
  }

  private async describeLogDirs(): Promise<LogDirsAnswer[]> {
    const { logDirs } = this.clients();
    const partitions = Array.from({ length: this.options.partitions }, (_, p) => p);
    return (await logDirs.describeLogDirs({ topics: this.topics.map((name) => ({ name, partitions })) })) as LogDirsAnswer[];
  }

  private async logDirTotals() {
    try {
      return logDirTotals(await this.describeLogDirs(), new Set(this.topics));
    } catch (e) {
      throw this.fail("DescribeLogDirs", e);
    }
  }

  async sizes(): Promise<SizeReading[]> {
    let totals: ReturnType<typeof logDirTotals> | { error: string };
    try {
      totals = await this.logDirTotals();
    } catch (e) {
      totals = { error: e instanceof Error ? e.message : String(e) };
    }
    return kafkaSizeReadings(this.ledger.bytes, totals);
  }

  async snapshot(): Promise<unknown> {
    const { admin } = this.clients();
    const cluster = await this.call("describe cluster", () => admin.describeCluster());
    const metadata = await this.call("fetch topic metadata", () => admin.fetchTopicMetadata({ topics: this.topics }));
    const configs = await this.topicConfigs();
    const offsets: Record<string, unknown> = {};
    for (const t of this.topics) offsets[t] = await this.call(`fetch offsets of ${t}`, () => admin.fetchTopicOffsets(t));
    const logDirs = await this.call("DescribeLogDirs", () => this.describeLogDirs());
    return jsonSafe({
      cluster: { clusterId: cluster.clusterId, controller: cluster.controller, brokers: cluster.brokers.map((b) => ({ nodeId: b.nodeId, host: b.host, port: b.port })) },
      variant: this.cell?.variant,
      topics: metadata.topics.map((t) => ({
        name: t.name,
        configs: configs[t.name],
        partitions: t.partitions.map((p) => ({ partition: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr })),
        offsets: offsets[t.name],
      })),
      logDirs,
      producedLiveBytes: this.ledger.bytes,
    });
  }

  async cleanup(scope?: string): Promise<void> {
    // Every lab topic of the scope (a cell key or a run token), or of the lab, but the event
    // stream's, which outlives cells by design (see lib/runner/kafka-events.ts).
    const events = this.lab.objectName("events");
    const own = scope ? this.lab.objectName(scope) : this.lab.objectPrefix;
    await this.deleteTopics((await this.listLabTopics()).filter((t) => t !== events && t.startsWith(own)));
    this.ledger.clear();
  }

  storagePaths(): string[] {
    const dirs = this.options.localLogDirs ?? [];
    return dirs.flatMap((d) => this.topics.flatMap((t) => Array.from({ length: this.options.partitions }, (_, p) => join(d, `${t}-${p}`))));
  }
}
