// Topic settings per variant and for the compaction wait: plain data, unit-tested.

export const CLEANUP_POLICIES = ["delete", "compact"] as const;
export const COMPRESSIONS = ["none", "lz4", "zstd"] as const;
export type CleanupPolicy = (typeof CLEANUP_POLICIES)[number];
export type Compression = (typeof COMPRESSIONS)[number];

export interface TopicVariant {
  cleanupPolicy: CleanupPolicy;
  compression: Compression;
}

/** Variant names: `<cleanup.policy>_<compression>`; the first is the default. */
export const KAFKA_VARIANTS: Record<string, string> = {};
for (const p of CLEANUP_POLICIES) {
  for (const c of COMPRESSIONS) {
    KAFKA_VARIANTS[`${p}_${c}`] =
      `cleanup.policy=${p}, compression.type=${c === "none" ? "uncompressed" : c} (producer sends ${c === "none" ? "uncompressed" : c} batches)` +
      (p === "compact" ? "; key = SHA-256, so compaction keeps one record per distinct payload" : "");
  }
}

export function parseVariant(name: string): TopicVariant | null {
  const m = /^(delete|compact)_(none|lz4|zstd)$/.exec(name);
  return m ? { cleanupPolicy: m[1] as CleanupPolicy, compression: m[2] as Compression } : null;
}

/** Configs a lab topic is created with. */
export function topicConfigs(v: TopicVariant, maxMessageBytes: number): Record<string, string> {
  return {
    "cleanup.policy": v.cleanupPolicy,
    // Set on the topic too, so the broker stores this codec whatever a producer sends.
    "compression.type": v.compression === "none" ? "uncompressed" : v.compression,
    "max.message.bytes": String(maxMessageBytes),
  };
}

/** How long a segment may stay active while `compact_wait` waits for it to roll. */
export const ROLL_SEGMENT_MS = 100;

/**
 * Overrides `compact_wait` sets while it runs, so that everything written so far leaves the
 * active segment and the cleaner takes it at once: a short segment.ms (rolled by a marker
 * record), no minimum dirty ratio or lag, and tombstones dropped on the next pass.
 */
export function compactionOverrides(v: TopicVariant): Record<string, string> {
  const o: Record<string, string> = { "segment.ms": String(ROLL_SEGMENT_MS) };
  if (v.cleanupPolicy === "compact") {
    o["min.cleanable.dirty.ratio"] = "0.0";
    o["min.compaction.lag.ms"] = "0";
    o["delete.retention.ms"] = "0";
  }
  return o;
}

/** Key of the null-valued marker record that makes an idle segment roll. Never counted in L1. */
export const ROLL_MARKER_KEY = "dedup-lab-segment-roll";

/** Topic name pattern of one cell's topics: `<objectName(cellKey)>-c<k>`. */
export function cellTopicPattern(cellPrefix: string): RegExp {
  return new RegExp(`^${cellPrefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}-c\\d+$`);
}

/**
 * How long sizes must stay unchanged before `compact_wait` calls them settled: twice the
 * slowest broker loop that can still change them (cleaner back-off, retention check), clamped.
 */
export function settleWindowMs(brokerConfig: Record<string, string | undefined>): number {
  const n = (k: string, d: number) => {
    const v = Number(brokerConfig[k]);
    return Number.isFinite(v) && v >= 0 ? v : d;
  };
  const slowest = Math.max(n("log.cleaner.backoff.ms", 15_000), n("log.retention.check.interval.ms", 300_000));
  return Math.min(30_000, Math.max(1_000, 2 * slowest + 500));
}
