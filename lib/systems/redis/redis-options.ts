// The redis block of the config, what the connector can do, and its definition for the registry.
import { z } from "zod";
import { declareCapabilities } from "../capabilities.js";
import type { Capabilities, SystemDefinition } from "../contract.js";
import { redisEndpoint } from "./redis-connection.js";
import { RedisSystem } from "./redis-system.js";

const options = z
  .object({
    host: z.string().default("127.0.0.1"),
    port: z.coerce.number().int().min(1).max(65535).default(6379),
    /** ACL user; omit for the `default` user. */
    user: z.string().optional(),
    /** Name of the environment variable holding the password (never the password). */
    passwordEnv: z.string().optional(),
    /** The server's `dir`, when it is visible from here: RDB/AOF file sizes become the L2 primary. */
    dataDir: z.string().optional(),
    /** `dbfilename` and `appenddirname` of the server (Redis defaults). */
    rdbFile: z.string().default("dump.rdb"),
    aofDir: z.string().default("appendonlydir"),
  })
  .strict();
export type RedisOptions = z.infer<typeof options>;

const capabilities: Capabilities = {
  ...declareCapabilities("redis", {
    variants: {
      del: "per-unit delete with DEL (memory freed synchronously)",
      unlink: "per-unit delete with UNLINK (memory freed by a background thread)",
    },
    maintenance: {
      bgrewriteaof: "BGREWRITEAOF: rewrite the append-only file from the live dataset, awaited to completion",
      bgsave: "BGSAVE: write an RDB snapshot, awaited to completion",
    },
  }),
  // A natural key's second HSET overwrites the first record's hash (DEL first where the schema has nullable fields).
  typed: {
    collision: "replaced",
    mapping:
      "hash per record <prefix>:<cell>:<key>, one field per schema field: bytes raw, int64/timestamp decimal, float64 shortest round-trip text (-0, inf, nan:<bits>), bool 0/1, uuid/text/json verbatim text, null = field absent; bulk: pipelined HSET",
  },
};

export const redisDefinition: SystemDefinition<RedisOptions> = {
  name: "redis",
  description: "Redis (ioredis): one string key per unit under the lab key prefix, bulk as pipelined MSET parts; typed cells one hash per record, bulk as pipelined HSET",
  capabilities,
  options,
  endpoint: (o) => redisEndpoint(o),
  create: (o, lab) => new RedisSystem(lab, o, capabilities),
};
