// DescribeLogDirs answers → size readings. Pure, so it is unit-tested on recorded answers.
import type { SizeReading } from "../contract.js";

/** The part of @platformatic/kafka's BrokerLogDirDescription this file reads. */
export interface LogDirsAnswer {
  broker: number;
  results: {
    logDir: string;
    topics: { name: string; partitions: { partitionIndex: number; partitionSize: bigint | number; isFutureKey?: boolean }[] }[];
  }[];
}

export interface LogDirTotals {
  /** Σ partition sizes over every broker and log dir: every replica counted. */
  allReplicas: number;
  /** Σ over partitions of the largest replica: one copy of the data. */
  oneReplica: number;
  /** Partition replicas seen (for the snapshot and sanity checks). */
  replicas: number;
}

export function logDirTotals(answers: LogDirsAnswer[], topics: ReadonlySet<string>): LogDirTotals {
  let allReplicas = 0;
  let replicas = 0;
  const largest = new Map<string, number>();
  for (const a of answers) {
    for (const dir of a.results) {
      for (const t of dir.topics) {
        if (!topics.has(t.name)) continue;
        for (const p of t.partitions) {
          const size = Number(p.partitionSize);
          allReplicas += size;
          replicas++;
          const k = `${t.name}/${p.partitionIndex}`;
          largest.set(k, Math.max(largest.get(k) ?? 0, size));
        }
      }
    }
  }
  let oneReplica = 0;
  for (const v of largest.values()) oneReplica += v;
  return { allReplicas, oneReplica, replicas };
}

/** L1 from the connector's ledger, L2 from DescribeLogDirs (or null with the reason it failed). */
export function kafkaSizeReadings(logicalBytes: number, logDirs: LogDirTotals | { error: string }): SizeReading[] {
  const l1: SizeReading = { layer: "L1", metric: "kafka_produced_live_bytes", bytes: logicalBytes, primary: true };
  if ("error" in logDirs) {
    return [
      l1,
      { layer: "L2", metric: "kafka_logdirs_partition_bytes", bytes: null, primary: true, reason: `DescribeLogDirs failed: ${logDirs.error}` },
      { layer: "L2", metric: "kafka_logdirs_partition_bytes_one_replica", bytes: null, reason: `DescribeLogDirs failed: ${logDirs.error}` },
    ];
  }
  return [
    l1,
    { layer: "L2", metric: "kafka_logdirs_partition_bytes", bytes: logDirs.allReplicas, primary: true },
    { layer: "L2", metric: "kafka_logdirs_partition_bytes_one_replica", bytes: logDirs.oneReplica },
  ];
}

/** JSON-safe copy of a client answer (bigint → string), for snapshots. */
export function jsonSafe(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v instanceof Map ? Object.fromEntries(v) : v)));
}
