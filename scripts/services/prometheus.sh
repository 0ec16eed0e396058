# Prometheus 2.42 (Debian) on 127.0.0.1:59090. Sourced by scripts/services.sh.
# A 1 s scrape of: the local longhorn-style exporter (127.0.0.1:59400, job "longhorn"),
# the Pushgateway (127.0.0.1:59091, honor_labels so pushed run_id/cell labels stay),
# the runner's live /metrics (127.0.0.1:9464 while a run serves it), and any target file
# dropped into $SVC_STATE/targets/*.json (file_sd: integration tests register their own
# exporters there). TSDB under $SVC_STATE/tsdb, kept one day.
PROM_PORT=59090

# apache2-utils (htpasswd -B) and openssl: the integration tests start a second, TLS + basic-auth
# Prometheus to test the client's CA and auth handling against the real server.
svc_install() { apt_need prometheus curl apache2-utils openssl; }

svc_up() {
  mkdir -p "$SVC_STATE/tsdb" "$SVC_STATE/targets"
  cat > "$SVC_STATE/prometheus.yml" <<CONF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 15s
scrape_configs:
  - job_name: longhorn
    static_configs: [{ targets: ["127.0.0.1:59400"] }]
  - job_name: pushgateway
    honor_labels: true
    static_configs: [{ targets: ["127.0.0.1:59091"] }]
  - job_name: dedup-lab-runner
    static_configs: [{ targets: ["127.0.0.1:9464"] }]
  - job_name: file-targets
    file_sd_configs: [{ files: ["$SVC_STATE/targets/*.json"], refresh_interval: 1s }]
CONF
  promtool check config "$SVC_STATE/prometheus.yml" >/dev/null
  (
    cd "$SVC_STATE"
    nohup prometheus --config.file="$SVC_STATE/prometheus.yml" --storage.tsdb.path="$SVC_STATE/tsdb" \
      --storage.tsdb.retention.time=1d --web.listen-address="127.0.0.1:$PROM_PORT" \
      > "$SVC_STATE/prometheus.log" 2>&1 &
    echo $! > "$SVC_STATE/prometheus.pid"
  )
  wait_for 60 prom_ready
  env_set DEDUP_PROM_URL "http://127.0.0.1:$PROM_PORT"
  env_set DEDUP_PROM_TARGETS_DIR "$SVC_STATE/targets"
}

prom_ready() { curl -fsS "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null; }

svc_down() { stop_pid "$SVC_STATE/prometheus.pid"; }

svc_status() { pid_alive "$SVC_STATE/prometheus.pid" && prom_ready; }
