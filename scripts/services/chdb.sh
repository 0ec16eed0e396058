# A current ClickHouse engine (PyPI chdb-core, ClickHouse 26.x in-process) behind a small HTTP
# bridge (scripts/services/chdb-bridge.py) on 127.0.0.1:58124, so the connector can measure what
# Debian's clickhouse-server 18.16 cannot run (per-column CODEC(ZSTD), mutations_sync, …).
# Sourced by scripts/services.sh.
#
# chdb-core is installed once into a venv under $TOOLS/chdb-core-<version>/ (pinned, --no-deps:
# sessions need none of its optional pandas/pyarrow dependencies; ~10 s, later runs reuse it).
# The bridge keeps one persistent chdb session in $SVC_STATE/data. Users (passwords stored as
# SHA-256 in $SVC_STATE/users.json, checked by the bridge): `dedup_lab` (the lab user) and
# `default` (admin for tests). chdb has no access control of its own, so unlike the 18.16 server
# the lab user is not confined to the dedup_lab database here.
CHDB_PORT=58124
CHDB_CORE_VERSION=26.9.0

chdb_venv() { printf '%s' "$TOOLS/chdb-core-$CHDB_CORE_VERSION/venv"; }

# A python3 (≥ 3.9: the wheel is cp39-abi3) with a working venv module.
chdb_python() {
  if command -v python3 >/dev/null 2>&1 && python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
    command -v python3
    return 0
  fi
  apt_need python3 python3-venv
  printf '%s' /usr/bin/python3
}

svc_install() {
  apt_need curl
  local venv
  venv="$(chdb_venv)"
  if [ -f "$venv/.installed" ] && "$venv/bin/python" -c 'import chdb.session' >/dev/null 2>&1; then return 0; fi
  echo "chdb: installing chdb-core $CHDB_CORE_VERSION into $venv (pip)…" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$(chdb_python)" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps "chdb-core==$CHDB_CORE_VERSION" >&2
  "$venv/bin/python" -c 'import chdb.session' || { echo "chdb: chdb-core $CHDB_CORE_VERSION does not import" >&2; return 1; }
  touch "$venv/.installed"
}

_sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

svc_up() {
  local lab_pw admin_pw venv
  venv="$(chdb_venv)"
  lab_pw="$(env_secret DEDUP_CHDB_PASSWORD)"
  admin_pw="$(env_secret DEDUP_CHDB_ADMIN_PASSWORD)"
  mkdir -p "$SVC_STATE/data"
  ( umask 077; printf '{"dedup_lab": "%s", "default": "%s"}\n' "$(_sha256 "$lab_pw")" "$(_sha256 "$admin_pw")" > "$SVC_STATE/users.json" )
  rm -f "$SVC_STATE/bridge.pid"
  # Own session (setsid) so it outlives the caller's process group; inherited descriptors closed
  # (a caller holding the test lock must not pass it on to a long-lived server).
  (
    for fd in /proc/$BASHPID/fd/*; do n=${fd##*/}; case $n in 0|1|2) ;; *) eval "exec $n>&-" 2>/dev/null || true ;; esac; done
    exec setsid "$venv/bin/python" "$ROOT/scripts/services/chdb-bridge.py" --port "$CHDB_PORT" --data "$SVC_STATE/data" \
      --users "$SVC_STATE/users.json" --pid-file "$SVC_STATE/bridge.pid" >>"$SVC_STATE/bridge.log" 2>&1 </dev/null
  ) &
  if ! wait_for 60 svc_status; then
    tail -20 "$SVC_STATE/bridge.log" >&2 || true
    return 1
  fi
  env_set DEDUP_CHDB_HOST 127.0.0.1
  env_set DEDUP_CHDB_PORT "$CHDB_PORT"
  env_set DEDUP_CHDB_USER dedup_lab
  env_set DEDUP_CHDB_ADMIN_USER default
  env_set DEDUP_CHDB_VERSION "$CHDB_CORE_VERSION"
  env_set DEDUP_CHDB_DATA_DIR "$SVC_STATE/data"
  env_set DEDUP_CHDB_PID_FILE "$SVC_STATE/bridge.pid"
  echo "chdb: http://127.0.0.1:$CHDB_PORT (ClickHouse $(chdb_query 'SELECT version()') via chdb-core $CHDB_CORE_VERSION; lab user dedup_lab, password in \$DEDUP_CHDB_PASSWORD)"
}

chdb_query() {
  curl -sf -u "default:$(env_get DEDUP_CHDB_ADMIN_PASSWORD)" --data-binary "$1" "http://127.0.0.1:$CHDB_PORT/"
}

svc_down() {
  stop_pid "$SVC_STATE/bridge.pid"
}

svc_status() {
  pid_alive "$SVC_STATE/bridge.pid" && [ "$(chdb_query 'SELECT 1')" = 1 ]
}
