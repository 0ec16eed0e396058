// SASL/SCRAM-SHA-512 on the broker's second listener (59093), and the errors a user sees
// when credentials, mechanism or address are wrong: one line, system + endpoint + problem
// + fix, never the password. kafkajs retries are bounded so each failure comes back fast.
import { beforeAll, describe, expect, it } from "vitest";
import { SystemError } from "../../lib/errors.js";
import { LabNamespace } from "../../lib/systems/namespace.js";
import { kafkaDefinition } from "../../lib/systems/kafka/kafka-options.js";
import { primary, runCellThrough, smallDataset } from "../helpers/contract-harness.js";
import { loadServicesEnv } from "../helpers/services-env.js";

const lab = new LabNamespace();
let env: Record<string, string>;

beforeAll(() => {
  env = loadServicesEnv();
  process.env.DEDUP_TEST_KAFKA_WRONG_PASSWORD = "not-the-password-" + "x".repeat(8);
});

function saslSystem(over: Record<string, unknown> = {}, sasl: Record<string, unknown> = {}) {
  return kafkaDefinition.create(
    kafkaDefinition.options.parse({
      brokers: env.DEDUP_KAFKA_SASL_BROKERS,
      sasl: { mechanism: "scram-sha-512", username: env.DEDUP_KAFKA_USER, passwordEnv: "DEDUP_KAFKA_PASSWORD", ...sasl },
      retries: 0,
      connectionTimeoutMs: 1500,
      ...over,
    }),
    lab,
  );
}

async function connectError(sys: ReturnType<typeof saslSystem>): Promise<SystemError> {
  try {
    await sys.connect();
  } catch (e) {
    return e as SystemError;
  } finally {
    await sys.close();
  }
  throw new Error("connect succeeded");
}

function expectClean(err: SystemError, endpoint: string): void {
  expect(err).toBeInstanceOf(SystemError);
  expect(err.system).toBe("kafka");
  expect(err.endpoint).toBe(endpoint);
  expect(err.message).not.toContain("\n");
  expect(err.message).not.toContain(env.DEDUP_KAFKA_PASSWORD!);
  expect(err.message).not.toContain(process.env.DEDUP_TEST_KAFKA_WRONG_PASSWORD!);
}

describe("kafka over SASL_PLAINTEXT with SCRAM-SHA-512", () => {
  it("runs a full cell with the lab user", async () => {
    const ds = smallDataset({ units: 10, fraction: 0.5 });
    const r = await runCellThrough(saslSystem({ retries: 3 }), { variant: "compact_lz4", dataset: ds });
    expect(primary(r.sizes.bulk, "L1")).toBe(10 * 64 + ds.totals.logical_bytes);
    expect(primary(r.sizes.bulk, "L2")).toBeGreaterThan(0);
    expect(primary(r.sizes.deleted, "L1")).toBe(0);
    expect(primary(r.sizes.maintained, "L2")).toBeLessThan(400);
    const snap = r.snapshots[0] as { cluster: { brokers: { port: number }[] } };
    expect(snap.cluster.brokers[0]!.port).toBe(59093);
    expect(JSON.stringify(r.snapshots)).not.toContain(env.DEDUP_KAFKA_PASSWORD!);
  });

  it("wrong password: authentication failed, one line, no secret", async () => {
    const err = await connectError(saslSystem({}, { passwordEnv: "DEDUP_TEST_KAFKA_WRONG_PASSWORD" }));
    expectClean(err, env.DEDUP_KAFKA_SASL_BROKERS!);
    expect(err.message).toBe(
      `kafka at ${env.DEDUP_KAFKA_SASL_BROKERS}: connect: SASL SCRAM-SHA-512 authentication failed for user "dedup" — check options.sasl.username and the password in $DEDUP_TEST_KAFKA_WRONG_PASSWORD`,
    );
  });

  it("SCRAM-SHA-256 against a SCRAM-SHA-512-only listener: mechanism mismatch named", async () => {
    const err = await connectError(saslSystem({}, { mechanism: "scram-sha-256" }));
    expectClean(err, env.DEDUP_KAFKA_SASL_BROKERS!);
    expect(err.message).toBe(
      `kafka at ${env.DEDUP_KAFKA_SASL_BROKERS}: connect: the broker does not offer SASL mechanism SCRAM-SHA-256 on this listener — set options.sasl.mechanism to one it enables (e.g. scram-sha-512)`,
    );
  });

  it("no SASL on the SASL listener: the closed connection is explained", async () => {
    const err = await connectError(saslSystem({ sasl: "none" }));
    expectClean(err, env.DEDUP_KAFKA_SASL_BROKERS!);
    expect(err.message).toMatch(/: connect: the broker closed the connection \(.*\) — does this listener need SASL or TLS\? set options.sasl \/ options.ssl to match it$/);
  });

  it("unset password variable: named before connecting", async () => {
    const err = await connectError(saslSystem({}, { passwordEnv: "DEDUP_TEST_KAFKA_UNSET_VARIABLE" }));
    expectClean(err, env.DEDUP_KAFKA_SASL_BROKERS!);
    expect(err.message).toBe(`kafka at ${env.DEDUP_KAFKA_SASL_BROKERS}: environment variable DEDUP_TEST_KAFKA_UNSET_VARIABLE (options.sasl.passwordEnv) is not set`);
  });

  it("unreachable broker: fails fast with the address and the fix", async () => {
    const err = await connectError(saslSystem({ brokers: "127.0.0.1:59999", sasl: "none", retries: 1 }));
    expectClean(err, "127.0.0.1:59999");
    expect(err.message).toBe(
      "kafka at 127.0.0.1:59999: connect: broker not reachable (ECONNREFUSED) — is it running and are options.brokers right? (local: scripts/services.sh up kafka)",
    );
  });
});
