// Redaction by secrecy, not by option name (issue 17 item 2): passwords, secret keys and tokens
// are masked everywhere; user names and access-key ids are identifiers and stay, even when an
// access key equals the lab prefix.
import { describe, expect, it } from "vitest";
import { Redactor, secretEnvNames } from "../../lib/results/redact.js";

const config = {
  systems: {
    minio: { options: { accessKeyEnv: "T_MINIO_ACCESS_KEY", secretKeyEnv: "T_MINIO_SECRET_KEY", metricsTokenEnv: "T_MINIO_TOKEN" } },
    postgres: { options: { user: "dedup_lab", passwordEnv: "T_PG_PASSWORD" } },
  },
  prometheus: { auth: { bearerTokenEnv: "T_PROM_TOKEN" } },
};
const env = {
  T_MINIO_ACCESS_KEY: "dedup-lab",
  T_MINIO_SECRET_KEY: "s3cr3t-minio-key",
  T_MINIO_TOKEN: "tok-123456",
  T_PG_PASSWORD: "pg-pass-9876",
  T_PROM_TOKEN: "prom-bearer-42",
};

describe("Redactor", () => {
  it("collects only secret …Env options (password, secret key, tokens), not the access-key id", () => {
    expect([...secretEnvNames(config)].sort()).toEqual(["T_MINIO_SECRET_KEY", "T_MINIO_TOKEN", "T_PG_PASSWORD", "T_PROM_TOKEN"]);
  });

  it("an access key equal to the lab prefix leaves topic and bucket names intact while every secret is masked", () => {
    const r = new Redactor(secretEnvNames(config), env);
    const line = `bucket dedup-lab-c0a1 topic dedup-lab-t1 failed with key s3cr3t-minio-key, pg-pass-9876, tok-123456, prom-bearer-42`;
    const out = r.text(line);
    expect(out).toContain("dedup-lab-c0a1");
    expect(out).toContain("dedup-lab-t1");
    for (const secret of ["s3cr3t-minio-key", "pg-pass-9876", "tok-123456", "prom-bearer-42"]) expect(out).not.toContain(secret);
    const snap = r.value({ bucket: "dedup-lab-c0a1", accessKey: "dedup-lab", secretKey: "anything", password: "x", note: "pg-pass-9876" });
    expect(snap).toEqual({ bucket: "dedup-lab-c0a1", accessKey: "dedup-lab", secretKey: "[redacted]", password: "[redacted]", note: expect.not.stringContaining("pg-pass-9876") });
  });
});
