import { afterEach, describe, expect, it } from "vitest";
import { SystemError } from "../../lib/errors.js";
import { describeKafkaError, kafkajsConfig, platformaticConfig } from "../../lib/systems/kafka/kafka-connection.js";
import { KafkaOptionsSchema } from "../../lib/systems/kafka/kafka-options.js";
import { kafkaDefinition } from "../../lib/systems/kafka/kafka-options.js";

afterEach(() => {
  delete process.env.DEDUP_UNIT_KAFKA_PW;
});

describe("kafka options", () => {
  it("accept brokers as a comma list (what ${VAR} expansion gives) or an array, with defaults", () => {
    const o = KafkaOptionsSchema.parse({ brokers: "127.0.0.1:59092, 127.0.0.1:59095" });
    expect(o.brokers).toEqual(["127.0.0.1:59092", "127.0.0.1:59095"]);
    expect(o.sasl).toBe("none");
    expect(o.ssl).toBe(false);
    expect(o.partitions).toBe(1);
    expect(o.replicationFactor).toBe(1);
    expect(kafkaDefinition.endpoint(o)).toBe("127.0.0.1:59092,127.0.0.1:59095");
  });

  it("refuse a password in the config, unknown keys and malformed brokers", () => {
    expect(KafkaOptionsSchema.safeParse({ brokers: "h:1", sasl: { username: "u", password: "secret" } }).success).toBe(false);
    expect(KafkaOptionsSchema.safeParse({ brokers: "h:1", topic: "x" }).success).toBe(false);
    expect(KafkaOptionsSchema.safeParse({ brokers: "no-port" }).success).toBe(false);
    expect(KafkaOptionsSchema.safeParse({ brokers: "" }).success).toBe(false);
  });

  it("read the SASL password from the named variable at connect time", () => {
    const o = KafkaOptionsSchema.parse({ brokers: "h:1", sasl: { username: "dedup", passwordEnv: "DEDUP_UNIT_KAFKA_PW" } });
    expect(() => kafkajsConfig("kafka", o, "x")).toThrow(new SystemError("kafka", "h:1", "environment variable DEDUP_UNIT_KAFKA_PW (options.sasl.passwordEnv) is not set"));
    process.env.DEDUP_UNIT_KAFKA_PW = "pw";
    expect(kafkajsConfig("kafka", o, "x").sasl).toEqual({ mechanism: "scram-sha-512", username: "dedup", password: "pw" });
    expect(platformaticConfig("kafka", o, "x").sasl).toEqual({ mechanism: "SCRAM-SHA-512", username: "dedup", password: "pw" });
  });
});

describe("describeKafkaError", () => {
  const o = KafkaOptionsSchema.parse({ brokers: "h:1", sasl: { username: "dedup", passwordEnv: "DEDUP_UNIT_KAFKA_PW" } });

  it("never repeats the password, even if a client put it in a message", () => {
    process.env.DEDUP_UNIT_KAFKA_PW = "hunter2hunter2";
    const msg = describeKafkaError(new Error("weird failure mentioning hunter2hunter2\nsecond line"), o);
    expect(msg).toBe("weird failure mentioning ***");
  });

  it("keeps the innermost cause of an unknown error on the same line", () => {
    const e = Object.assign(new Error("Request failed"), { cause: new Error("NOT_CONTROLLER") });
    expect(describeKafkaError(e, o)).toBe("Request failed: NOT_CONTROLLER");
  });
});
