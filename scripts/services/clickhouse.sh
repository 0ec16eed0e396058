# ClickHouse (Debian's clickhouse-server 18.16, 2018) started by hand: HTTP on
# 127.0.0.1:58123, native TCP on 127.0.0.1:59000, config and data under $SVC_STATE.
# Sourced by scripts/services.sh.
#
# Users (passwords stored as SHA-256 in users.xml): `default` = admin for tests and the
# bench's clickhouse-client; `dedup_lab` = the toolkit's lab user, limited to the
# dedup_lab database (allow_databases) with log_queries=1 so the audit test can read every
# statement it issued from system.query_log.

CLICKHOUSE_HTTP_PORT=58123
CLICKHOUSE_TCP_PORT=59000

svc_install() {
  apt_need clickhouse-server clickhouse-client curl
}

_sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

svc_up() {
  local lab_pw admin_pw
  lab_pw="$(env_secret DEDUP_CLICKHOUSE_PASSWORD)"
  admin_pw="$(env_secret DEDUP_CLICKHOUSE_ADMIN_PASSWORD)"
  mkdir -p "$SVC_STATE/data" "$SVC_STATE/tmp" "$SVC_STATE/user_files" "$SVC_STATE/format_schemas" "$SVC_STATE/log"
  cat > "$SVC_STATE/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>$SVC_STATE/log/server.log</log>
    <errorlog>$SVC_STATE/log/server.err.log</errorlog>
    <size>100M</size>
    <count>2</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$CLICKHOUSE_HTTP_PORT</http_port>
  <tcp_port>$CLICKHOUSE_TCP_PORT</tcp_port>
  <path>$SVC_STATE/data/</path>
  <tmp_path>$SVC_STATE/tmp/</tmp_path>
  <user_files_path>$SVC_STATE/user_files/</user_files_path>
  <format_schema_path>$SVC_STATE/format_schemas/</format_schema_path>
  <users_config>$SVC_STATE/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>134217728</mark_cache_size>
  <uncompressed_cache_size>134217728</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <query_log>
    <database>system</database>
    <table>query_log</table>
    <partition_by>toYYYYMM(event_date)</partition_by>
    <flush_interval_milliseconds>1000</flush_interval_milliseconds>
  </query_log>
</yandex>
EOF
  cat > "$SVC_STATE/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>2000000000</max_memory_usage>
    </default>
    <lab>
      <max_memory_usage>2000000000</max_memory_usage>
      <log_queries>1</log_queries>
    </lab>
  </profiles>
  <users>
    <default>
      <password_sha256_hex>$(_sha256 "$admin_pw")</password_sha256_hex>
      <networks replace="replace"><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
    <dedup_lab>
      <password_sha256_hex>$(_sha256 "$lab_pw")</password_sha256_hex>
      <networks replace="replace"><ip>127.0.0.1</ip></networks>
      <profile>lab</profile>
      <quota>default</quota>
      <allow_databases><database>dedup_lab</database></allow_databases>
    </dedup_lab>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries>
        <errors>0</errors>
        <result_rows>0</result_rows>
        <read_rows>0</read_rows>
        <execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
EOF
  chmod 640 "$SVC_STATE/users.xml"
  chown -R clickhouse:clickhouse "$SVC_STATE"
  start-stop-daemon --start --background --make-pidfile --pidfile "$SVC_STATE/clickhouse.pid" \
    --chuid clickhouse:clickhouse --chdir "$SVC_STATE" --exec /usr/sbin/clickhouse-server -- \
    --config-file="$SVC_STATE/config.xml"
  if ! wait_for 60 curl -sf "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/ping"; then
    tail -20 "$SVC_STATE/log/server.err.log" >&2 || true
    return 1
  fi
  env_set DEDUP_CLICKHOUSE_HOST 127.0.0.1
  env_set DEDUP_CLICKHOUSE_PORT "$CLICKHOUSE_HTTP_PORT"
  env_set DEDUP_CLICKHOUSE_TCP_PORT "$CLICKHOUSE_TCP_PORT"
  env_set DEDUP_CLICKHOUSE_USER dedup_lab
  env_set DEDUP_CLICKHOUSE_ADMIN_USER default
  env_set DEDUP_CLICKHOUSE_PID_FILE "$SVC_STATE/clickhouse.pid"
  echo "clickhouse: http://127.0.0.1:$CLICKHOUSE_HTTP_PORT, tcp 127.0.0.1:$CLICKHOUSE_TCP_PORT (lab user dedup_lab, password in \$DEDUP_CLICKHOUSE_PASSWORD)"
}

svc_down() {
  stop_pid "$SVC_STATE/clickhouse.pid"
}

svc_status() {
  pid_alive "$SVC_STATE/clickhouse.pid" && curl -sf "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/ping" >/dev/null
}
