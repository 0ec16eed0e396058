// Does the broker really answer? Asks for cluster metadata over PLAINTEXT and over the
// SCRAM-SHA-512 listener (when its credentials are given). Exit 0 iff both answer.
//   node scripts/kafka/ping.mjs PLAIN_BROKER [SASL_BROKER USER PASSWORD_ENV]
import kafkajs from "kafkajs";

const { Kafka, logLevel } = kafkajs;
const [plain, sasl, user, passwordEnv] = process.argv.slice(2);

async function ping(brokers, saslOptions) {
  const kafka = new Kafka({
    clientId: "dedup-lab-ping",
    brokers: [brokers],
    sasl: saslOptions,
    connectionTimeout: 2000,
    requestTimeout: 3000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const cluster = await admin.describeCluster();
    if (cluster.brokers.length === 0) throw new Error("no brokers in metadata");
  } finally {
    await admin.disconnect();
  }
}

try {
  await ping(plain);
  if (sasl) await ping(sasl, { mechanism: "scram-sha-512", username: user, password: process.env[passwordEnv] ?? "" });
} catch (e) {
  console.error(`kafka: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
