// The redis connector against the real local server (scripts/services.sh up redis):
// full cells for every variant and maintenance, the key-prefix audit, ACL refusal and
// the error messages users see.
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabNamespace } from "../../lib/systems/namespace.js";
import { redisDefinition } from "../../lib/systems/redis/redis-options.js";
import { primary, runCellThrough, smallDataset } from "../helpers/contract-harness.js";
import { loadServicesEnv } from "../helpers/services-env.js";

const env = loadServicesEnv();
const lab = new LabNamespace();
const endpoint = `127.0.0.1:${env.DEDUP_REDIS_PORT}`;

function options(over: Record<string, unknown> = {}) {
  return redisDefinition.options.parse({
    host: env.DEDUP_REDIS_HOST,
    port: env.DEDUP_REDIS_PORT,
    user: env.DEDUP_REDIS_USER,
    passwordEnv: "DEDUP_REDIS_PASSWORD",
    dataDir: env.DEDUP_REDIS_DATA_DIR,
    ...over,
  });
}

const admin = new Redis({ host: "127.0.0.1", port: Number(env.DEDUP_REDIS_PORT), password: env.DEDUP_REDIS_ADMIN_PASSWORD, lazyConnect: true });
// Keys a careless prefix match or reset would hit: other apps, look-alike prefixes, the bare prefix.
const bystanders = ["other:keep", "dedupx:keep", "dedup-lab:keep", "dedup", "DEDUP:keep", "xdedup:keep"];

beforeAll(async () => {
  await admin.connect();
  for (const k of bystanders) await admin.set(k, `value of ${k}`);
});

afterAll(async () => {
  for (const k of bystanders) await admin.del(k);
  await admin.quit();
});

async function persistenceCounters(): Promise<{ rdb: number; aof: number }> {
  const info = await admin.info("persistence");
  const num = (f: string) => Number(new RegExp(`^${f}:(\\d+)`, "m").exec(info)![1]);
  return { rdb: num("rdb_saves"), aof: num("aof_rewrites") };
}

describe("redis connector on a real server", () => {
  for (const variant of Object.keys(redisDefinition.capabilities.variants)) {
    for (const maintenance of Object.keys(redisDefinition.capabilities.maintenance)) {
      it(`runs a full cell: variant ${variant}, maintenance ${maintenance}`, async () => {
        const before = await persistenceCounters();
        const system = redisDefinition.create(options(), lab);
        const ds = smallDataset();
        const r = await runCellThrough(system, { variant, maintenance, dataset: ds });
        const logical = ds.totals.logical_bytes;
        const strlen = (s: typeof r.sizes.bulk) => s.find((x) => x.metric === "strlen_sum")!.bytes;

        expect(primary(r.sizes.prepared, "L1")).toBe(0);
        expect(strlen(r.sizes.bulk)).toBe(logical);
        // jemalloc size classes plus key and object overhead: more than the payload, never less
        expect(primary(r.sizes.bulk, "L1")!).toBeGreaterThan(logical);
        expect(primary(r.sizes.bulk, "L1")!).toBeLessThan(logical * 2);
        expect(primary(r.sizes.reset, "L1")).toBe(0);
        expect(strlen(r.sizes.perfile)).toBe(logical);
        expect(primary(r.sizes.perfile, "L1")).toBe(primary(r.sizes.bulk, "L1"));
        expect(primary(r.sizes.deleted, "L1")).toBe(0);
        // dataDir is set: the L2 primary is the on-disk RDB/AOF, present after the maintenance
        const l2 = r.sizes.maintained.find((x) => x.layer === "L2" && x.primary)!;
        expect(l2.metric).toBe("rdb_aof_allocated_bytes");
        expect(l2.bytes!).toBeGreaterThan(0);
        for (const stage of Object.values(r.sizes)) {
          expect(stage.filter((x) => x.layer === "L1" && x.primary)).toHaveLength(1);
          expect(stage.filter((x) => x.layer === "L2" && x.primary)).toHaveLength(1);
        }
        const mem = r.sizes.bulk.find((x) => x.metric === "used_memory_dataset")!;
        expect(mem.bytes!).toBeGreaterThan(0);
        expect(mem.reason).toMatch(/instance-wide/);

        const after = await persistenceCounters();
        if (maintenance === "bgsave") expect(after.rdb).toBeGreaterThan(before.rdb);
        else expect(after.aof).toBeGreaterThan(before.aof);

        const snap = r.snapshots[1] as { info: { persistence: Record<string, string> }; memory_stats: Record<string, unknown>; lab_keys: { keys: number } };
        expect(snap.info.persistence.aof_enabled).toBe("1");
        expect(snap.memory_stats["keys.count"]).toBeTypeOf("number");
        expect(snap.lab_keys.keys).toBe(0);

        // audit: nothing of the lab left, every bystander intact
        expect(await admin.scan("0", "MATCH", "dedup:*", "COUNT", 10000).then((p) => p[1])).toEqual([]);
        for (const k of bystanders) expect(await admin.get(k)).toBe(`value of ${k}`);
      });
    }
  }

  it("reports memory as the L2 primary when dataDir is not set", async () => {
    const system = redisDefinition.create(options({ dataDir: undefined }), lab);
    const r = await runCellThrough(system, { dataset: smallDataset({ units: 4 }) });
    const l2 = r.sizes.bulk.find((x) => x.layer === "L2" && x.primary)!;
    expect(l2.metric).toBe("used_memory_dataset");
    const disk = r.sizes.bulk.find((x) => x.metric === "rdb_aof_allocated_bytes")!;
    expect(disk.bytes).toBeNull();
    expect(disk.reason).toMatch(/dataDir not set/);
  });

  it("the lab user is refused outside dedup:*", async () => {
    const labUser = new Redis({ host: "127.0.0.1", port: Number(env.DEDUP_REDIS_PORT), username: env.DEDUP_REDIS_USER, password: env.DEDUP_REDIS_PASSWORD, lazyConnect: true });
    await labUser.connect();
    try {
      await expect(labUser.get("other:keep")).rejects.toThrow(/NOPERM/);
      await expect(labUser.set("other:new", "x")).rejects.toThrow(/NOPERM/);
      await expect(labUser.del("dedupx:keep")).rejects.toThrow(/NOPERM/);
      await expect(labUser.flushall()).rejects.toThrow(/NOPERM/);
      await expect(labUser.config("GET", "dir")).rejects.toThrow(/NOPERM/);
      expect(await labUser.set("dedup:acl-probe", "ok")).toBe("OK");
      expect(await labUser.del("dedup:acl-probe")).toBe(1);
    } finally {
      labUser.disconnect();
    }
    expect(await admin.exists("other:new")).toBe(0);
    expect(await admin.get("other:keep")).toBe("value of other:keep");
  });

  it("a reply error fails the bulk insert instead of counting as success", async () => {
    // A lab prefix the ACL does not cover: every SET in the pipeline replies NOPERM.
    const system = redisDefinition.create(options(), new LabNamespace("other"));
    await expect(runCellThrough(system, { lab: new LabNamespace("other"), dataset: smallDataset({ units: 4 }) })).rejects.toThrow(
      /^redis at 127\.0\.0\.1:\d+: MSET \d+ keys: NOPERM/,
    );
    expect(await admin.scan("0", "MATCH", "other:*", "COUNT", 10000).then((p) => p[1])).toEqual(["other:keep"]);
  });

  it("wrong credentials give one clear line without the password", async () => {
    process.env.DEDUP_REDIS_TEST_WRONG = "not-the-password-4711";
    const system = redisDefinition.create(options({ passwordEnv: "DEDUP_REDIS_TEST_WRONG" }), lab);
    const err = await system.connect().then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(new RegExp(`^redis at ${endpoint}: connect failed: WRONGPASS .* — check user and DEDUP_REDIS_TEST_WRONG$`));
    expect(err!.message).not.toContain("not-the-password-4711");
    expect(err!.message).not.toContain(env.DEDUP_REDIS_PASSWORD!);
    expect(err!.message.split("\n")).toHaveLength(1);
  });

  it("an unreachable endpoint gives one clear line", async () => {
    const system = redisDefinition.create(options({ port: 1 }), lab);
    await expect(system.connect()).rejects.toThrow(/^redis at 127\.0\.0\.1:1: connect failed: connect ECONNREFUSED 127\.0\.0\.1:1$/);
  });

  it("a missing password variable is named", async () => {
    const system = redisDefinition.create(options({ passwordEnv: "DEDUP_REDIS_UNSET_FOR_TEST" }), lab);
    await expect(system.connect()).rejects.toThrow(/environment variable DEDUP_REDIS_UNSET_FOR_TEST is not set/);
  });
});
