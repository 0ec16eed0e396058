// The optional per-stage event stream against the real broker: events land in
// <prefix>-lab-events keyed by run id, in order, as the JSON the dashboard reads; a broker
// that cannot be reached fails open() with one line, and close() reports what was sent.
import kafkajs from "kafkajs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { SystemError } from "../../lib/errors.js";
import { KafkaEventStream, KafkaEventsConfigSchema } from "../../lib/runner/kafka-events.js";
import { LabNamespace } from "../../lib/systems/namespace.js";
import { loadServicesEnv } from "../helpers/services-env.js";

const lab = new LabNamespace();
let env: Record<string, string>;
let admin: kafkajs.Admin;
let kafka: kafkajs.Kafka;

beforeAll(async () => {
  env = loadServicesEnv();
  kafka = new kafkajs.Kafka({ clientId: "dedup-lab-events-test", brokers: [env.DEDUP_KAFKA_BROKERS!], logLevel: kafkajs.logLevel.NOTHING });
  admin = kafka.admin();
  await admin.connect();
});

afterAll(async () => {
  await KafkaEventStream.deleteTopic(KafkaEventsConfigSchema.parse({ brokers: env.DEDUP_KAFKA_BROKERS }), lab);
  expect(await admin.listTopics()).not.toContain("dedup-lab-events");
  await admin.disconnect();
});

async function readRun(runId: string, n: number): Promise<{ key: string; value: Record<string, unknown> }[]> {
  const groupId = lab.objectName("events-test", Math.random().toString(36).slice(2, 8));
  const consumer = kafka.consumer({ groupId });
  const got: { key: string; value: Record<string, unknown> }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: "dedup-lab-events", fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${got.length} of ${n}`)), 30_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          if (message.key?.toString() !== runId) return;
          got.push({ key: message.key.toString(), value: JSON.parse(message.value!.toString()) });
          if (got.length >= n) {
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
  return got;
}

it("writes stage events keyed by run id to dedup-lab-events, over SCRAM", async () => {
  const config = KafkaEventsConfigSchema.parse({
    brokers: env.DEDUP_KAFKA_SASL_BROKERS,
    sasl: { mechanism: "scram-sha-512", username: env.DEDUP_KAFKA_USER, passwordEnv: "DEDUP_KAFKA_PASSWORD" },
  });
  const events = await KafkaEventStream.open(config, lab);
  expect(events.topic).toBe("dedup-lab-events");
  const runId = "run-" + Math.random().toString(36).slice(2, 10);
  const stages = ["bulk_insert", "perfile_insert"];
  for (const stage of stages) {
    events.emit({ run_id: runId, cell: "c1", system: "kafka", stage, event: "start" });
    events.emit({ run_id: runId, cell: "c1", system: "kafka", stage, event: "end", detail: { units: 20, bytes: 81920 } });
  }
  events.emit({ run_id: runId, cell: "c1", system: "kafka", stage: "maintenance", event: "error", ts: "2026-01-02T03:04:05.000Z", detail: "kafka at 127.0.0.1:59092: broker not reachable" });
  const summary = await events.close();
  expect(summary).toEqual({ topic: "dedup-lab-events", sent: 5, failed: 0 });

  const got = await readRun(runId, 5);
  expect(got.map((m) => [m.value.stage, m.value.event])).toEqual([
    ["bulk_insert", "start"], ["bulk_insert", "end"], ["perfile_insert", "start"], ["perfile_insert", "end"], ["maintenance", "error"],
  ]);
  for (const m of got) {
    expect(Object.keys(m.value).sort()).toEqual(["cell", "detail", "event", "run_id", "stage", "system", "ts"]);
    expect(m.value.run_id).toBe(runId);
    expect(Number.isNaN(Date.parse(m.value.ts as string))).toBe(false);
  }
  expect(got[1]!.value.detail).toEqual({ units: 20, bytes: 81920 });
  expect(got[4]!.value.ts).toBe("2026-01-02T03:04:05.000Z");
  expect(got[0]!.value.detail).toBeNull();

  // a second stream appends to the same topic (it exists now)
  const again = await KafkaEventStream.open(config, lab);
  again.emit({ run_id: runId, cell: "", system: "", stage: "run", event: "end" });
  await again.flush();
  const s2 = await again.close();
  expect(s2.sent).toBe(1);
  expect(await readRun(runId, 6)).toHaveLength(6);
});

it("an unreachable broker fails open() with one line naming the endpoint", async () => {
  const config = KafkaEventsConfigSchema.parse({ brokers: "127.0.0.1:59999", retries: 0, connectionTimeoutMs: 1000 });
  const err = await KafkaEventStream.open(config, lab).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SystemError);
  expect((err as Error).message).toBe(
    "kafka events at 127.0.0.1:59999: open dedup-lab-events: broker not reachable (ECONNREFUSED) — is it running and are options.brokers right? (local: scripts/services.sh up kafka)",
  );
});

it("a run with an events block publishes every stage boundary of every cell, keyed by its run id", async () => {
  const { mkdtempSync, writeFileSync, readFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const { cli } = await import("../helpers/cli.js");
  const d = mkdtempSync(join(tmpdir(), "dedup-lab-events-run-"));
  writeFileSync(join(d, "cfg.yaml"), `matrix: { systems: [sqlite], payloads: [random_binary], grades: [U0] }\ndataset: { units: 5 }\nevents: { brokers: "${env.DEDUP_KAFKA_BROKERS}" }\n`);
  const r = cli(["run", "--config", join(d, "cfg.yaml"), "--out", join(d, "b"), "--quiet"]);
  expect(r.status, r.stderr).toBe(0);
  const runId = JSON.parse(readFileSync(join(d, "b", "bundle.json"), "utf8")).run_id as string;
  const got = await readRun(runId, 10);
  expect(got.map((m) => `${m.value.stage}:${m.value.event}`)).toEqual([
    "run:start",
    "bulk_insert:start", "bulk_insert:end", "perfile_insert:start", "perfile_insert:end",
    "perfile_delete:start", "perfile_delete:end", "maintenance:start", "maintenance:end",
    "run:end",
  ]);
  expect(got[2]!.value.detail).toMatchObject({ cell_id: "sqlite.rollback.random_binary.U0.file.within.r1", units: 5, bytes: 5 * 16384 });
});
