# Prometheus Pushgateway 1.5 (Debian) on 127.0.0.1:59091, in memory (no persistence file):
# the runner pushes its live metrics there at the end of every cell. Sourced by scripts/services.sh.
PUSHGATEWAY_PORT=59091

svc_install() { apt_need prometheus-pushgateway curl; }

svc_up() {
  (
    cd "$SVC_STATE"
    nohup prometheus-pushgateway --web.listen-address="127.0.0.1:$PUSHGATEWAY_PORT" \
      > "$SVC_STATE/pushgateway.log" 2>&1 &
    echo $! > "$SVC_STATE/pushgateway.pid"
  )
  wait_for 30 pushgateway_ready
  env_set DEDUP_PUSHGATEWAY_URL "http://127.0.0.1:$PUSHGATEWAY_PORT"
}

pushgateway_ready() { curl -fsS "http://127.0.0.1:$PUSHGATEWAY_PORT/-/ready" >/dev/null; }

svc_down() { stop_pid "$SVC_STATE/pushgateway.pid"; }

svc_status() { pid_alive "$SVC_STATE/pushgateway.pid" && pushgateway_ready; }
