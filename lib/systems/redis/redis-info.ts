// Pure helpers for the Redis connector: INFO parsing, MATCH patterns, and when a
// background save or AOF rewrite counts as finished.

/** `INFO` text → { section: { field: value } } (section names lowercased). */
export function parseInfo(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let section = "default";
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith("#")) {
      section = line.slice(1).trim().toLowerCase();
      out[section] ??= {};
      continue;
    }
    const i = line.indexOf(":");
    if (i < 0) continue;
    (out[section] ??= {})[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** Flat field → value map over all sections of an INFO reply. */
export function infoFields(text: string): Record<string, string> {
  return Object.assign({}, ...Object.values(parseInfo(text)));
}

/** MEMORY STATS replies a flat [name, value, …] array, nested for db.N entries. */
export function pairsToObject(reply: unknown): unknown {
  if (!Array.isArray(reply)) return Buffer.isBuffer(reply) ? reply.toString() : reply;
  if (reply.length % 2 !== 0) return reply.map(pairsToObject);
  const out: Record<string, unknown> = {};
  for (let i = 0; i < reply.length; i += 2) out[String(reply[i])] = pairsToObject(reply[i + 1]);
  return out;
}

/** Escape glob metacharacters so a literal prefix can be used in SCAN MATCH. */
export function escapeGlob(literal: string): string {
  return literal.replace(/[*?[\]\\]/g, "\\$&");
}

export type PersistenceKind = "bgsave" | "bgrewriteaof";

const FIELDS: Record<PersistenceKind, { counter: string; busy: string[]; status: string }> = {
  bgsave: { counter: "rdb_saves", busy: ["rdb_bgsave_in_progress"], status: "rdb_last_bgsave_status" },
  bgrewriteaof: {
    counter: "aof_rewrites",
    busy: ["aof_rewrite_in_progress", "aof_rewrite_scheduled"],
    status: "aof_last_bgrewrite_status",
  },
};

/** Is any fork-based persistence job running? Redis runs one at a time. */
export function persistenceBusy(persistence: Record<string, string>): boolean {
  return ["rdb_bgsave_in_progress", "aof_rewrite_in_progress", "aof_rewrite_scheduled"].some((f) => persistence[f] === "1");
}

/** Completed-job counter (Redis ≥ 7.0: rdb_saves / aof_rewrites), or null when the server lacks it. */
export function persistenceCounter(kind: PersistenceKind, persistence: Record<string, string>): number | null {
  const v = persistence[FIELDS[kind].counter];
  return v === undefined ? null : Number(v);
}

/**
 * State of a job started when the counter was `before`: done once the counter moved
 * and nothing runs (status must then be ok), failed when idle with an error status.
 */
export function persistenceState(
  kind: PersistenceKind,
  persistence: Record<string, string>,
  before: number,
): "running" | "done" | "failed" {
  const f = FIELDS[kind];
  const busy = f.busy.some((b) => persistence[b] === "1");
  if (busy) return "running";
  const status = persistence[f.status];
  if (Number(persistence[f.counter]) > before) return status === "ok" ? "done" : "failed";
  return status === "err" ? "failed" : "running";
}

export function persistenceStatusField(kind: PersistenceKind): string {
  return FIELDS[kind].status;
}
