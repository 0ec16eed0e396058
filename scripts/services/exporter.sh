# The local longhorn-style exporter (lib/exporter) on 127.0.0.1:59400, scraped by the
# local Prometheus as job "longhorn". One volume per local server data directory
# ($STATE/<service>/data, PVC data-<service>-0, one replica) and one volume for the
# embedded systems ($SVC_STATE/volumes/embedded, PVC data-embedded-0, three synthetic
# replicas node-1..3), all in namespace dedup-lab. Point a run's workDir (or the
# directory system's root) at $DEDUP_EXPORTER_EMBEDDED_DIR to measure it through
# Prometheus. Sourced by scripts/services.sh.
EXPORTER_PORT=59400

svc_install() {
  apt_need curl
  [ -d "$ROOT/node_modules/tsx" ] || (cd "$ROOT" && npm ci)
}

svc_up() {
  local embedded="$SVC_STATE/volumes/embedded" vols="" s
  mkdir -p "$embedded"
  for s in postgres postgres-tls mariadb clickhouse redis kafka minio; do
    vols+="{\"volume\":\"pvc-dedup-lab-$s\",\"pvc\":\"data-$s-0\",\"namespace\":\"dedup-lab\",\"paths\":[\"$STATE/$s/data\"],\"nodes\":[\"node-1\"]},"
  done
  vols+="{\"volume\":\"pvc-dedup-lab-embedded\",\"pvc\":\"data-embedded-0\",\"namespace\":\"dedup-lab\",\"paths\":[\"$embedded\"],\"nodes\":[\"node-1\",\"node-2\",\"node-3\"]}"
  printf '{"listen":"127.0.0.1:%s","volumes":[%s]}\n' "$EXPORTER_PORT" "$vols" > "$SVC_STATE/exporter.json"
  (
    cd "$ROOT"
    nohup node --import tsx lib/exporter/main.ts "$SVC_STATE/exporter.json" > "$SVC_STATE/exporter.log" 2>&1 &
    echo $! > "$SVC_STATE/exporter.pid"
  )
  wait_for 30 exporter_ready
  env_set DEDUP_EXPORTER_URL "http://127.0.0.1:$EXPORTER_PORT/metrics"
  env_set DEDUP_EXPORTER_EMBEDDED_DIR "$embedded"
}

exporter_ready() { curl -fsS "http://127.0.0.1:$EXPORTER_PORT/metrics" >/dev/null; }

svc_down() { stop_pid "$SVC_STATE/exporter.pid"; }

svc_status() { pid_alive "$SVC_STATE/exporter.pid" && exporter_ready; }
