import { describe, expect, it } from "vitest";
import { compareUsage, parseBucketUsage } from "../../lib/systems/minio/minio-sizes.js";

const EXPOSITION = `# HELP minio_bucket_usage_total_bytes Total bucket size in bytes
# TYPE minio_bucket_usage_total_bytes gauge
minio_bucket_usage_total_bytes{bucket="dedup-lab-a-c0",server="127.0.0.1:59100"} 8192
minio_bucket_usage_total_bytes{bucket="dedup-lab-a-c1",server="127.0.0.1:59100"} 0
minio_bucket_usage_total_bytes{bucket="other",server="127.0.0.1:59100"} 1e+06
# TYPE minio_bucket_usage_object_total gauge
minio_bucket_usage_object_total{bucket="dedup-lab-a-c0",server="127.0.0.1:59100"} 2
minio_bucket_usage_object_total{bucket="dedup-lab-a-c1",server="127.0.0.1:59100"} 0
minio_bucket_usage_total_bytes_extra{bucket="dedup-lab-a-c0"} 99
minio_bucket_usage_version_total{bucket="dedup-lab-a-c0",server="127.0.0.1:59100"} 2
`;

describe("MinIO bucket usage metrics", () => {
  it("parses per-bucket bytes and object counts, ignoring look-alike series", () => {
    const u = parseBucketUsage(EXPOSITION);
    expect(u.get("dedup-lab-a-c0")).toEqual({ bytes: 8192, objects: 2 });
    expect(u.get("dedup-lab-a-c1")).toEqual({ bytes: 0, objects: 0 });
    expect(u.get("other")).toEqual({ bytes: 1e6, objects: 0 });
  });

  it("sums series of several servers", () => {
    const two = 'minio_bucket_usage_total_bytes{bucket="b",server="s1"} 10\nminio_bucket_usage_total_bytes{server="s2",bucket="b"} 5\n';
    expect(parseBucketUsage(two).get("b")).toEqual({ bytes: 15, objects: 0 });
  });

  it("is current when bytes and objects match the listing", () => {
    const listed = new Map([["dedup-lab-a-c0", { bytes: 8192, objects: 2 }], ["dedup-lab-a-c1", { bytes: 0, objects: 0 }]]);
    expect(compareUsage(parseBucketUsage(EXPOSITION), listed)).toEqual({ bytes: 8192 });
  });

  it("is stale when the scanner is behind the listing", () => {
    const listed = new Map([["dedup-lab-a-c0", { bytes: 12288, objects: 3 }]]);
    const c = compareUsage(parseBucketUsage(EXPOSITION), listed);
    expect(c.bytes).toBe(8192);
    expect(c.stale).toMatch(/^stale: scanner behind the listing \(dedup-lab-a-c0: 2 objects\/8192 B vs listed 3\/12288 B\)$/);
  });

  it("is null and stale when no bucket was reported yet", () => {
    const listed = new Map([["dedup-lab-new-c0", { bytes: 0, objects: 0 }]]);
    expect(compareUsage(parseBucketUsage(EXPOSITION), listed)).toEqual({ bytes: null, stale: "stale: scanner has not reported dedup-lab-new-c0 yet" });
  });

  it("flags partly reported cells", () => {
    const listed = new Map([["dedup-lab-a-c0", { bytes: 8192, objects: 2 }], ["dedup-lab-a-c9", { bytes: 1, objects: 1 }]]);
    expect(compareUsage(parseBucketUsage(EXPOSITION), listed)).toEqual({ bytes: 8192, stale: "stale: scanner behind the listing (not reported yet: dedup-lab-a-c9)" });
  });
});
