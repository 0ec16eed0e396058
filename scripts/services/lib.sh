# Helpers shared by scripts/services/<name>.sh. Sourced, not run.

# apt install only what is missing; services never autostart here, we start them by hand.
apt_need() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing ${missing[*]} (apt)…" >&2
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  fi
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends --no-upgrade "${missing[@]}" >&2
}

# Set KEY=VALUE in .services/env (replacing an earlier value).
env_set() {
  local key="$1" value="$2" tmp
  tmp="$(mktemp)"
  grep -v "^export $key=" "$ENV_FILE" > "$tmp" || true
  printf 'export %s=%q\n' "$key" "$value" >> "$tmp"
  mv "$tmp" "$ENV_FILE"
  chmod 600 "$ENV_FILE"
}

# Current value of KEY in .services/env, or empty.
env_get() {
  ( set +u; source "$ENV_FILE"; eval "printf '%s' \"\${$1:-}\"" )
}

# A lab password that survives restarts: generated once, kept in .services/env.
env_secret() {
  local key="$1" v
  v="$(env_get "$key")"
  if [ -z "$v" ]; then v="$(head -c 18 /dev/urandom | base64 | tr -d '/+=' )"; env_set "$key" "$v"; fi
  printf '%s' "$v"
}

# wait_for SECONDS COMMAND…: poll until the command succeeds.
wait_for() {
  local secs="$1"; shift
  local i
  for ((i = 0; i < secs * 5; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "timed out after ${secs}s waiting for: $*" >&2
  return 1
}

# Is a PID in FILE alive?
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pid FILE: TERM, wait, KILL.
stop_pid() {
  local f="$1" p i
  [ -f "$f" ] || return 0
  p="$(cat "$f")"
  kill "$p" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$p" 2>/dev/null || true
  rm -f "$f"
}

# Remove KEY from .services/env.
env_unset() {
  local key="$1" tmp
  tmp="$(mktemp)"
  grep -v "^export $key=" "$ENV_FILE" > "$tmp" || true
  mv "$tmp" "$ENV_FILE"
  chmod 600 "$ENV_FILE"
}

# ---- volumes: each local server's $SVC_STATE/data on its own loop-device volume (scripts/volume.sh)
VOLUME_SERVICES=(postgres postgres-tls mariadb clickhouse redis kafka minio)

has_volume() { local s; for s in "${VOLUME_SERVICES[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

# DEDUP_VOLUME_PROFILE_<SERVICE> / _REPLICAS_ / DEDUP_VOLUME_<SERVICE> suffix: upper case, - → _.
volume_key() { local k="${1^^}"; printf '%s' "${k//-/_}"; }

volume_profile() { local v="DEDUP_VOLUME_PROFILE_$(volume_key "$1")"; printf '%s' "${!v:-thin}"; }

volume_replicas() {
  local v="DEDUP_VOLUME_REPLICAS_$(volume_key "$1")" d=1
  [ "$(volume_profile "$1")" = replicated ] && d=2
  printf '%s' "${!v:-$d}"
}

# The OS user:group each server writes its data as (the others run as root).
volume_owner() {
  case "$1" in
    postgres|postgres-tls) echo postgres:postgres ;;
    mariadb) echo mysql:mysql ;;
    clickhouse) echo clickhouse:clickhouse ;;
    *) echo "" ;;
  esac
}

# Is NAME's data dir ($SVC_STATE/data) its volume, mounted, with the wanted profile and replicas?
volume_in_place() {
  local name="$1" st
  st="$("$ROOT/scripts/volume.sh" status "$name" 2>/dev/null)" || return 1
  jq -e --arg mp "$SVC_STATE/data" --arg p "$(volume_profile "$name")" --argjson r "$(volume_replicas "$name")" \
    '.mounted and .mountpoint == $mp and .profile == $p and (.replicas | length) == $r' <<<"$st" >/dev/null
}

# Make (or keep) NAME's volume at $SVC_STATE/data; the data dir's old contents are test state
# the server re-initialises. A volume with another profile/replica count is destroyed first.
volume_up() {
  local name="$1" owner args
  owner="$(volume_owner "$name")"
  args=(create "$name" --profile "$(volume_profile "$name")" --replicas "$(volume_replicas "$name")"
    --mount "$SVC_STATE/data" --replace-dir ${owner:+--owner "$owner"})
  if ! volume_in_place "$name" && [ -e "$STATE/volumes/$name" ]; then
    echo "$name: volume has another profile, replica count or mountpoint: recreating it" >&2
    "$ROOT/scripts/volume.sh" destroy "$name"
  fi
  "$ROOT/scripts/volume.sh" "${args[@]}" >/dev/null
  env_set "DEDUP_VOLUME_$(volume_key "$name")" "$name"
}
