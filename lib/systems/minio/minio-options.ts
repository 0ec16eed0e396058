// The minio block of the config, what the connector can do, and its definition for the registry.
import { z } from "zod";
import { declareCapabilities } from "../capabilities.js";
import type { Capabilities, SystemDefinition } from "../contract.js";
import { minioEndpoint } from "./minio-connection.js";
import { MiB, MinioSystem } from "./minio-system.js";

const options = z
  .object({
    endPoint: z.string().default("127.0.0.1"),
    port: z.coerce.number().int().min(1).max(65535).default(9000),
    useSSL: z.boolean().default(false),
    /** Names of the environment variables holding the access and secret key (never the keys). */
    accessKeyEnv: z.string(),
    secretKeyEnv: z.string(),
    region: z.string().default("us-east-1"),
    /** Multipart part size; objects larger than this are uploaded in parts (S3 minimum 5 MiB). */
    partSize: z.coerce.number().int().min(5 * MiB).default(64 * MiB),
    /** Concurrent PUTs in the bulk stage (32 beat 16 and 4 on a 2-core single-drive MinIO). */
    concurrency: z.coerce.number().int().min(1).max(256).default(32),
    /** The server's data directory, when local: allocated blocks of each bucket directory are the L2 primary. */
    dataDir: z.string().optional(),
    /** Prometheus v2 endpoint with minio_bucket_usage_*; default: <endpoint>/minio/v2/metrics/bucket. */
    metricsUrl: z.string().optional(),
    /** Environment variable with a bearer token for the metrics endpoint (`mc admin prometheus generate`). */
    metricsTokenEnv: z.string().optional(),
    /** Upper bound of the await_scanner maintenance. */
    scannerTimeoutSeconds: z.coerce.number().positive().default(300),
  })
  .strict();
export type MinioOptions = z.infer<typeof options>;

const capabilities: Capabilities = {
  ...declareCapabilities("minio", {
    variants: {
      unversioned: "plain buckets: DELETE removes the object",
      versioned: "bucket versioning on: DELETE leaves a delete marker, the data stays as a noncurrent version",
    },
    maintenance: {
      purge_noncurrent: "remove noncurrent versions and delete markers (what a lifecycle expiry would reclaim; a no-op on unversioned buckets)",
      await_scanner: "wait until MinIO's data scanner reports bucket usage that matches the listing (bounded by scannerTimeoutSeconds)",
    },
  }),
  // A natural key's second PUT overwrites the first record's object (versioned buckets keep the old one as a noncurrent version).
  typed: {
    collision: "replaced",
    mapping:
      "JSON object <key>.json per record: int64/timestamp decimal strings, float64 JSON numbers (\"-0\", \"NaN:<bits>\", \"Infinity\" as strings), bytes base64, json fields embedded verbatim, null fields absent; bulk: concurrent PUTs",
  },
};

export const minioDefinition: SystemDefinition<MinioOptions> = {
  name: "minio",
  description: "MinIO / S3 (minio client): one bucket per container under the lab prefix, one object per unit; typed cells one JSON object per record",
  capabilities,
  options,
  endpoint: (o) => minioEndpoint(o),
  create: (o, lab) => new MinioSystem(lab, o, capabilities),
};
