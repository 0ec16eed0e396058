import { describe, expect, it } from "vitest";
import { jsonSafe, kafkaSizeReadings, logDirTotals, type LogDirsAnswer } from "../../lib/systems/kafka/kafka-sizes.js";

// Recorded from the local Kafka 4.1.1 broker (@platformatic/kafka 1.35.0 admin.describeLogDirs) after a bulk stage.
const recorded: LogDirsAnswer[] = [
  {
    broker: 1,
    results: [
      {
        logDir: "/tmp/dedup_lab_services/kafka/data",
        topics: [
          { name: "dedup-lab-tqtav55-c0", partitions: [{ partitionIndex: 0, partitionSize: 83461n, isFutureKey: false }] },
          { name: "other-topic", partitions: [{ partitionIndex: 0, partitionSize: 999n, isFutureKey: false }] },
        ],
      },
    ],
  },
];

describe("logDirTotals", () => {
  it("sums the lab topics' partitions and ignores other topics", () => {
    expect(logDirTotals(recorded, new Set(["dedup-lab-tqtav55-c0"]))).toEqual({ allReplicas: 83461, oneReplica: 83461, replicas: 1 });
  });

  it("counts every replica in allReplicas and the largest replica per partition in oneReplica", () => {
    const threeBrokers: LogDirsAnswer[] = [1, 2, 3].map((broker) => ({
      broker,
      results: [
        {
          logDir: `/var/lib/kafka/data-${broker}`,
          topics: [
            {
              name: "dedup-lab-x-c0",
              partitions: [
                { partitionIndex: 0, partitionSize: BigInt(1000 + broker) }, // a follower a little behind
                { partitionIndex: 1, partitionSize: 500n },
              ],
            },
          ],
        },
      ],
    }));
    expect(logDirTotals(threeBrokers, new Set(["dedup-lab-x-c0"]))).toEqual({ allReplicas: 1001 + 1002 + 1003 + 1500, oneReplica: 1003 + 500, replicas: 6 });
  });

  it("is zero when no lab partition is reported", () => {
    expect(logDirTotals([], new Set(["dedup-lab-x-c0"]))).toEqual({ allReplicas: 0, oneReplica: 0, replicas: 0 });
  });
});

describe("kafkaSizeReadings", () => {
  it("one primary per layer: produced bytes (L1) and DescribeLogDirs over all replicas (L2)", () => {
    const r = kafkaSizeReadings(83200, { allReplicas: 90, oneReplica: 30, replicas: 3 });
    expect(r).toEqual([
      { layer: "L1", metric: "kafka_produced_live_bytes", bytes: 83200, primary: true },
      { layer: "L2", metric: "kafka_logdirs_partition_bytes", bytes: 90, primary: true },
      { layer: "L2", metric: "kafka_logdirs_partition_bytes_one_replica", bytes: 30 },
    ]);
  });

  it("a failed DescribeLogDirs is null with the reason, never 0", () => {
    const r = kafkaSizeReadings(10, { error: "kafka at 127.0.0.1:59092: DescribeLogDirs: CLUSTER_AUTHORIZATION_FAILED" });
    expect(r.filter((x) => x.layer === "L2").map((x) => [x.bytes, x.reason])).toEqual([
      [null, "DescribeLogDirs failed: kafka at 127.0.0.1:59092: DescribeLogDirs: CLUSTER_AUTHORIZATION_FAILED"],
      [null, "DescribeLogDirs failed: kafka at 127.0.0.1:59092: DescribeLogDirs: CLUSTER_AUTHORIZATION_FAILED"],
    ]);
    expect(r.filter((x) => x.primary).map((x) => x.layer)).toEqual(["L1", "L2"]);
  });
});

it("jsonSafe turns bigints into strings and maps into objects", () => {
  expect(jsonSafe({ a: 1n, m: new Map([["k", 2n]]), l: [3n] })).toEqual({ a: "1", m: { k: "2" }, l: ["3"] });
});
