import { describe, expect, it } from "vitest";
import {
  escapeGlob,
  infoFields,
  pairsToObject,
  parseInfo,
  persistenceBusy,
  persistenceCounter,
  persistenceState,
} from "../../lib/systems/redis/redis-info.js";

const INFO = "# Server\r\nredis_version:7.0.15\r\nexecutable:/usr/bin/redis-server\r\n\r\n# Persistence\r\nrdb_bgsave_in_progress:0\r\nrdb_saves:3\r\n";

describe("redis INFO parsing", () => {
  it("splits sections and keeps values with colons", () => {
    expect(parseInfo(INFO)).toEqual({
      server: { redis_version: "7.0.15", executable: "/usr/bin/redis-server" },
      persistence: { rdb_bgsave_in_progress: "0", rdb_saves: "3" },
    });
    expect(infoFields(INFO).rdb_saves).toBe("3");
  });

  it("turns MEMORY STATS pairs into nested objects", () => {
    expect(pairsToObject(["peak.allocated", 10, "db.0", ["overhead.hashtable.main", 72, "overhead.hashtable.expires", 32], "keys.count", 2])).toEqual({
      "peak.allocated": 10,
      "db.0": { "overhead.hashtable.main": 72, "overhead.hashtable.expires": 32 },
      "keys.count": 2,
    });
  });
});

describe("SCAN MATCH escaping", () => {
  it("escapes glob metacharacters of a literal prefix", () => {
    expect(escapeGlob("dedup:")).toBe("dedup:");
    expect(escapeGlob("a*b?[c]\\")).toBe("a\\*b\\?\\[c\\]\\\\");
  });
});

describe("awaiting BGSAVE / BGREWRITEAOF", () => {
  const idle = { rdb_bgsave_in_progress: "0", aof_rewrite_in_progress: "0", aof_rewrite_scheduled: "0" };

  it("is running while the fork runs or is scheduled", () => {
    expect(persistenceState("bgsave", { ...idle, rdb_bgsave_in_progress: "1", rdb_saves: "4", rdb_last_bgsave_status: "ok" }, 3)).toBe("running");
    expect(persistenceState("bgrewriteaof", { ...idle, aof_rewrite_scheduled: "1", aof_rewrites: "0", aof_last_bgrewrite_status: "ok" }, 0)).toBe("running");
    expect(persistenceBusy({ ...idle, aof_rewrite_scheduled: "1" })).toBe(true);
    expect(persistenceBusy(idle)).toBe(false);
  });

  it("is done only when the completion counter moved and the status is ok", () => {
    expect(persistenceState("bgsave", { ...idle, rdb_saves: "4", rdb_last_bgsave_status: "ok" }, 3)).toBe("done");
    expect(persistenceState("bgsave", { ...idle, rdb_saves: "3", rdb_last_bgsave_status: "ok" }, 3)).toBe("running");
    expect(persistenceState("bgrewriteaof", { ...idle, aof_rewrites: "1", aof_last_bgrewrite_status: "ok" }, 0)).toBe("done");
  });

  it("fails on an error status", () => {
    expect(persistenceState("bgsave", { ...idle, rdb_saves: "3", rdb_last_bgsave_status: "err" }, 3)).toBe("failed");
    expect(persistenceState("bgrewriteaof", { ...idle, aof_rewrites: "2", aof_last_bgrewrite_status: "err" }, 1)).toBe("failed");
  });

  it("reads the completion counter, null before Redis 7", () => {
    expect(persistenceCounter("bgsave", { rdb_saves: "7" })).toBe(7);
    expect(persistenceCounter("bgrewriteaof", { rdb_saves: "7" })).toBeNull();
  });
});
