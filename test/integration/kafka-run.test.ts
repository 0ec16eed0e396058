// The runner end to end on Kafka: the shipped config through the CLI writes every stage and
// size layer (L1 produced bytes, L2 DescribeLogDirs, L3 local partition dirs) to the bundle,
// over the SCRAM listener; a connected system survives a broker restart between operations
// (kafkajs reconnects). (A broker stopped mid-stage and the run resumed:
// test/contract/systems.contract.test.ts, for every server system.)
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import kafkajs from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readMeta } from "../../lib/results/bundle.js";
import { LabNamespace } from "../../lib/systems/namespace.js";
import { loadSystems, systemDefinition } from "../../lib/systems/registry.js";
import { primary, smallDataset } from "../helpers/contract-harness.js";
import { ROOT, loadServicesEnv } from "../helpers/services-env.js";
import { TempDirs, bundleText, rowsOf, services } from "../helpers/bundles.js";

const run = promisify(execFile);
const temps = new TempDirs("dedup-lab-kafkarun-");
const tempDir = () => temps.make();

async function labTopics(): Promise<string[]> {
  const admin = new kafkajs.Kafka({ clientId: "dedup-lab-run-test", brokers: [process.env.DEDUP_KAFKA_BROKERS!], logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return (await admin.listTopics()).filter((t) => t.startsWith("dedup-lab-"));
  } finally {
    await admin.disconnect();
  }
}

beforeAll(async () => {
  loadServicesEnv();
  await loadSystems(["kafka"]);
});
afterAll(() => {
  services("up", "kafka"); // whatever happened above, leave the broker running
  temps.removeAll();
});

describe("dedup-lab run --systems kafka --config examples/local-services.yaml", () => {
  it("writes all stages and size layers to the bundle", async () => {
    const out = join(tempDir(), "bundle");
    const { stdout } = await run(process.execPath, [
      join(ROOT, "bin/dedup-lab.js"), "run", "--systems", "kafka", "--config", join(ROOT, "examples/local-services.yaml"),
      "--payloads", "random_binary", "--units", "12", "--out", out, "--quiet",
    ], { cwd: ROOT, env: process.env, timeout: 300_000 });
    expect(stdout).toMatch(/4 cells done, 0 failed/);
    expect(await readMeta(out)).toMatchObject({ status: "complete", cells_done: 4, cells_failed: 0 });

    const rows = await rowsOf(out);
    const cells = [...new Set(rows.map((r) => r.cell_id))].sort();
    expect(cells).toEqual([
      "kafka.compact_zstd.random_binary.U0.file.within.r1", "kafka.compact_zstd.random_binary.U90.file.within.r1",
      "kafka.delete_none.random_binary.U0.file.within.r1", "kafka.delete_none.random_binary.U90.file.within.r1",
    ]);
    for (const cell of cells) {
      for (const stage of ["bulk_insert", "perfile_insert", "perfile_delete", "maintenance"]) {
        expect(rows.some((r) => r.cell_id === cell && r.stage === stage && r.metric === "stage_end"), `${cell} ${stage}`).toBe(true);
        for (const layer of ["L1", "L2", "L3"]) {
          const sizes = rows.filter((r) => r.cell_id === cell && r.stage === stage && r.metric === "size_bytes" && r.layer === layer);
          expect(sizes.length, `${cell} ${stage} ${layer}`).toBeGreaterThan(0);
          for (const s of sizes) expect(s.value, `${cell} ${stage} ${layer} ${s.phase}: ${s.reason}`).not.toBeNull();
        }
      }
    }
    // the broker's own numbers made it in: bulk on a delete topic stores every byte, U90 under zstd far fewer
    const after = (cell: string, metric: string, stage = "bulk_insert") =>
      rows.find((r) => r.cell_id === cell && r.stage === stage && r.metric === metric && r.phase === "after")!.value!;
    expect(after("kafka.delete_none.random_binary.U90.file.within.r1", "kafka_logdirs_partition_bytes")).toBeGreaterThan(12 * 16384);
    expect(after("kafka.compact_zstd.random_binary.U90.file.within.r1", "kafka_logdirs_partition_bytes")).toBeLessThan(12 * 16384 * 0.3);
    expect(after("kafka.delete_none.random_binary.U0.file.within.r1", "kafka_produced_live_bytes")).toBe(12 * (16384 + 64));
    expect(after("kafka.compact_zstd.random_binary.U0.file.within.r1", "kafka_logdirs_partition_bytes", "maintenance")).toBeLessThan(400);
    expect(bundleText(out)).not.toContain(process.env.DEDUP_KAFKA_PASSWORD);
    expect(await labTopics()).toEqual([]);
  }, 300_000);
});

describe("kafka broker restarted between operations", () => {
  it("the connector reconnects with backoff: the same system object goes on after the restart", async () => {
    const lab = new LabNamespace();
    const kafkaDefinition = systemDefinition("kafka");
    const sys = kafkaDefinition.create(kafkaDefinition.options.parse({ brokers: process.env.DEDUP_KAFKA_BROKERS, retries: 8 }), lab);
    const units = [...smallDataset({ units: 4, fraction: 0 }).units()];
    await sys.connect();
    try {
      await sys.prepare({ lab, cellKey: "reconnect", variant: "delete_none", containers: 1, workDir: "/tmp", log: () => {} });
      await sys.insert(units[0]!);
      await sys.insert(units[1]!);
      services("down", "kafka");
      services("up", "kafka");
      await sys.insert(units[2]!);
      await sys.insert(units[3]!);
      const sizes = await sys.sizes();
      expect(primary(sizes, "L1")).toBe(4 * (64 + 4096));
      expect(primary(sizes, "L2")).toBeGreaterThan(4 * 4096);
      await sys.delete(units[3]!);
      await sys.cleanup();
    } finally {
      await sys.close();
    }
    expect(await labTopics()).toEqual([]);
  }, 300_000);
});
