// MinIO's scanner-derived bucket usage from its Prometheus endpoint (v2 text format), and
// whether it has caught up with what a listing sees. The scanner is lazy: usage can be
// minutes to days old on a busy server, so a reading that disagrees with the listing is
// reported as stale rather than trusted.

export interface BucketUsage {
  bytes: number;
  objects: number;
}

const BYTES = "minio_bucket_usage_total_bytes";
const OBJECTS = "minio_bucket_usage_object_total";

/** Per-bucket usage from a Prometheus text exposition. Buckets the scanner has not reported are absent. */
export function parseBucketUsage(text: string): Map<string, BucketUsage> {
  const out = new Map<string, BucketUsage>();
  for (const line of text.split("\n")) {
    if (!line.startsWith(BYTES) && !line.startsWith(OBJECTS)) continue;
    const m = /^(\w+)\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!m || (m[1] !== BYTES && m[1] !== OBJECTS)) continue;
    const bucket = /(?:^|,)bucket="((?:[^"\\]|\\.)*)"/.exec(m[2]!)?.[1];
    if (bucket === undefined) continue;
    const entry = out.get(bucket) ?? { bytes: 0, objects: 0 };
    // One series per server in a distributed setup: sum them.
    if (m[1] === BYTES) entry.bytes += Number(m[3]);
    else entry.objects += Number(m[3]);
    out.set(bucket, entry);
  }
  return out;
}

export interface UsageComparison {
  bytes: number | null;
  /** Set when the scanner's view disagrees with the listing (or is missing). */
  stale?: string;
}

/**
 * Σ scanner usage over the `listed` buckets, flagged stale unless it matches the listing in
 * bytes and objects. The scanner counts all versions' bytes and every object name with any
 * version, so `listed` must come from a version listing on versioned buckets.
 */
export function compareUsage(usage: Map<string, BucketUsage>, listed: Map<string, BucketUsage>): UsageComparison {
  let bytes = 0;
  const missing: string[] = [];
  const behind: string[] = [];
  for (const [bucket, l] of listed) {
    const u = usage.get(bucket);
    if (!u) {
      missing.push(bucket);
      continue;
    }
    bytes += u.bytes;
    if (u.bytes !== l.bytes || u.objects !== l.objects) {
      behind.push(`${bucket}: ${u.objects} objects/${u.bytes} B vs listed ${l.objects}/${l.bytes} B`);
    }
  }
  if (missing.length === listed.size && listed.size > 0) {
    return { bytes: null, stale: `stale: scanner has not reported ${missing.join(", ")} yet` };
  }
  const problems = [...(missing.length ? [`not reported yet: ${missing.join(", ")}`] : []), ...behind];
  return problems.length ? { bytes, stale: `stale: scanner behind the listing (${problems.join("; ")})` } : { bytes };
}
