# Apache Kafka 4.x, the real broker: jars from Maven Central (scripts/kafka/pom.xml) cached in
# $TOOLS/kafka-<version>, one KRaft node that is broker and controller, on Java 17.
# Listeners (127.0.0.1 only): PLAINTEXT 59092, SASL_PLAINTEXT SCRAM-SHA-512 59093, controller 59094.
# The SCRAM user is written into the metadata log when the storage is formatted, so it exists
# from the first start. First run: ~1 min to resolve the jars (~55 MB); later runs are offline.
# shellcheck shell=bash

KAFKA_VERSION=4.1.1
KAFKA_HOME="$TOOLS/kafka-$KAFKA_VERSION"
KAFKA_PLAIN_PORT=59092
KAFKA_SASL_PORT=59093
KAFKA_CONTROLLER_PORT=59094
KAFKA_USER=dedup

kafka_java() {
  # -Xmx small: the lab data are KiBs to MiBs. Extra args before the main class.
  java -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_HOME/config/tools-log4j2.properties" \
    -cp "$KAFKA_HOME/libs/*" "$@"
}

svc_install() {
  apt_need openjdk-17-jre-headless maven
  [ -f "$KAFKA_HOME/.complete" ] && return 0
  echo "kafka: resolving Apache Kafka $KAFKA_VERSION jars from Maven Central (first run only)…" >&2
  rm -rf "$KAFKA_HOME"
  mkdir -p "$KAFKA_HOME/config" "$KAFKA_HOME/bin"
  mvn -q -B -f "$ROOT/scripts/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$KAFKA_HOME/libs" >&2
  cat > "$KAFKA_HOME/config/tools-log4j2.properties" <<'LOG'
status = warn
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = err
LOG
  # kafka-producer-perf-test from the same jars (bench/kafka-bulk.ts runs it)
  cat > "$KAFKA_HOME/bin/kafka-producer-perf-test" <<SH
#!/usr/bin/env bash
exec java -Xmx512m -Dlog4j2.configurationFile="$KAFKA_HOME/config/tools-log4j2.properties" -cp "$KAFKA_HOME/libs/*" org.apache.kafka.tools.ProducerPerformance "\$@"
SH
  chmod +x "$KAFKA_HOME/bin/kafka-producer-perf-test"
  touch "$KAFKA_HOME/.complete"
}

kafka_write_config() {
  cat > "$SVC_STATE/server.properties" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PLAIN_PORT,SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PLAIN_PORT,SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
log.dirs=$SVC_STATE/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# The lab measures compaction and DeleteRecords: let the cleaner and the retention check run
# often and remove replaced segment files quickly, so sizes settle in seconds, not minutes.
log.cleaner.enable=true
log.cleaner.backoff.ms=200
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=16777216
log.retention.check.interval.ms=1000
log.segment.delete.delay.ms=500
file.delete.delay.ms=500
log.flush.offset.checkpoint.interval.ms=1000
CONF
}

svc_up() {
  local password cluster_id fingerprint
  password="$(env_secret DEDUP_KAFKA_PASSWORD)"
  fingerprint="$(printf '%s' "$password" | sha256sum | cut -c1-16)"
  kafka_write_config
  # A state dir formatted with another password (env file deleted) cannot log the user in: start afresh.
  if [ -f "$SVC_STATE/data/meta.properties" ] && [ "$(cat "$SVC_STATE/scram.fingerprint" 2>/dev/null)" != "$fingerprint" ]; then
    find "$SVC_STATE/data" -mindepth 1 -maxdepth 1 -exec rm -rf {} +   # the dir may be a volume's mountpoint
  fi
  if [ ! -f "$SVC_STATE/data/meta.properties" ]; then
    cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
    kafka_java kafka.tools.StorageTool format --config "$SVC_STATE/server.properties" --cluster-id "$cluster_id" \
      --add-scram "SCRAM-SHA-512=[name=$KAFKA_USER,password=$password]" >"$SVC_STATE/format.log" 2>&1 \
      || { echo "kafka: storage format failed, see $SVC_STATE/format.log" >&2; return 1; }
    printf '%s' "$fingerprint" > "$SVC_STATE/scram.fingerprint"
  fi
  cat > "$SVC_STATE/log4j2.properties" <<LOG
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $SVC_STATE/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
LOG
  setsid java -Xms512m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$SVC_STATE/log4j2.properties" \
    -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$SVC_STATE/server.properties" \
    >"$SVC_STATE/stdout.log" 2>&1 < /dev/null &
  echo $! > "$SVC_STATE/kafka.pid"
  env_set DEDUP_KAFKA_BROKERS "127.0.0.1:$KAFKA_PLAIN_PORT"
  env_set DEDUP_KAFKA_SASL_BROKERS "127.0.0.1:$KAFKA_SASL_PORT"
  env_set DEDUP_KAFKA_USER "$KAFKA_USER"
  env_set DEDUP_KAFKA_VERSION "$KAFKA_VERSION"
  env_set DEDUP_KAFKA_LOG_DIRS "$SVC_STATE/data"
  env_set DEDUP_KAFKA_PERF_TEST "$KAFKA_HOME/bin/kafka-producer-perf-test"
  wait_for 90 svc_status || { tail -20 "$SVC_STATE/server.log" >&2 2>/dev/null; return 1; }
}

svc_down() {
  stop_pid "$SVC_STATE/kafka.pid"
}

svc_status() {
  pid_alive "$SVC_STATE/kafka.pid" || return 1
  DEDUP_KAFKA_PASSWORD="$(env_get DEDUP_KAFKA_PASSWORD)" \
    node "$ROOT/scripts/kafka/ping.mjs" "127.0.0.1:$KAFKA_PLAIN_PORT" "127.0.0.1:$KAFKA_SASL_PORT" "$KAFKA_USER" DEDUP_KAFKA_PASSWORD
}
