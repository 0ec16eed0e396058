#!/usr/bin/env bash
# Local real servers for tests and examples, on 127.0.0.1 only, state under a temp dir.
#   scripts/services.sh up|down|status [NAME…]     (no name = all)
# Data directories live on scripts/volume.sh volumes (see VOLUME_SERVICES in lib.sh): `up`
# makes them, `down NAME` keeps them (stop only; `up` finds the data again), `down` of
# everything destroys them and sweeps crash leftovers (scripts/volume.sh destroy NAME by hand).
# Each service is one file scripts/services/<name>.sh defining svc_install, svc_up,
# svc_down and svc_status (exit 0 when running). Endpoints and generated lab credentials
# are written as shell assignments to .services/env (git-ignored), which tests and
# examples/local-services.yaml read. Idempotent: `up` on a running service does nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
export STATE="${DEDUP_LAB_STATE:-/tmp/dedup_lab_services}"  # not "dedup-lab-…": that prefix names lab objects
export ENV_DIR="$ROOT/.services"
# Endpoints and credentials belong to the servers' state, shared by every checkout on this
# machine; .services/env is this checkout's copy, refreshed on every call.
export ENV_FILE="$STATE/env"
export TOOLS="${DEDUP_LAB_TOOLS:-$HOME/.cache/dedup-lab/tools}"
mkdir -p "$STATE" "$ENV_DIR" "$TOOLS"
touch "$ENV_FILE"
chmod 600 "$ENV_FILE"
trap 'cp "$ENV_FILE" "$ENV_DIR/env"; chmod 600 "$ENV_DIR/env"' EXIT

# shellcheck source=scripts/services/lib.sh
source "$ROOT/scripts/services/lib.sh"

ALL=()
for f in "$ROOT"/scripts/services/*.sh; do
  n="$(basename "$f" .sh)"
  [ "$n" = lib ] || [ "$n" = exporter ] || ALL+=("$n")
done
ALL+=(exporter) # last: its config names the other servers' volumes, made by their `up`

action="${1:-}"
shift || true
names=("$@")
ALL_DOWN=0
[ ${#names[@]} -gt 0 ] || { names=("${ALL[@]}"); ALL_DOWN=1; }

case "$action" in
  up|down|status) ;;
  *) echo "usage: scripts/services.sh up|down|status [${ALL[*]}]" >&2; exit 2 ;;
esac

# Volumes (scripts/volume.sh): every server in VOLUME_SERVICES gets $SVC_STATE/data on its own
# loop-device volume; without root or loop devices (or with DEDUP_VOLUMES=0), said once,
# plain directories as before.
VOLUMES=0
if [ "$action" = up ]; then
  for name in "${names[@]}"; do
    has_volume "$name" || continue
    if [ "${DEDUP_VOLUMES:-1}" = 0 ]; then
      echo "services: DEDUP_VOLUMES=0: plain directories for the data directories" >&2
    elif why="$("$ROOT/scripts/volume.sh" can 2>&1)"; then VOLUMES=1; else
      echo "services: no volumes for the data directories, plain directories instead — ${why:-scripts/volume.sh can failed}" >&2
    fi
    break
  done
fi
export VOLUMES

rc=0
for name in "${names[@]}"; do
  file="$ROOT/scripts/services/$name.sh"
  if [ ! -f "$file" ]; then
    echo "unknown service '$name' — use one of: ${ALL[*]}" >&2
    exit 2
  fi
  (
    unset -f svc_install svc_up svc_down svc_status
    # shellcheck disable=SC1090
    source "$file"
    SVC_STATE="$STATE/$name"
    export SVC_STATE
    case "$action" in
      up)
        if svc_status >/dev/null 2>&1; then
          if [ "$VOLUMES" = 1 ] && has_volume "$name" && ! volume_in_place "$name"; then
            echo "$name: running, but its data directory is not on its volume as configured (profile, replicas): restarting it on one"
            svc_down
          elif declare -F svc_stale >/dev/null && svc_stale; then
            echo "$name: running with an outdated configuration: restarting"
            svc_down
          else
            # Keeps the running volume as it is; only re-applies its mount-time tuning (volume.sh ext4_tune).
            if has_volume "$name" && [ "$VOLUMES" = 1 ]; then volume_up "$name"; fi
            echo "$name: running"
            exit 0
          fi
        fi
        svc_install
        mkdir -p "$SVC_STATE"
        if has_volume "$name"; then
          if [ "$VOLUMES" = 1 ]; then volume_up "$name"; else env_unset "DEDUP_VOLUME_$(volume_key "$name")"; fi
        fi
        svc_up
        echo "$name: up"
        ;;
      down)
        svc_down || true
        vrc=0
        # `down NAME` is a restart's first half (tests stop a server mid-stage and expect its
        # data back after `up`): the volume stays. `down` of everything tears volumes down.
        if [ "$ALL_DOWN" = 1 ] && has_volume "$name"; then
          "$ROOT/scripts/volume.sh" destroy "$name" || vrc=1
          env_unset "DEDUP_VOLUME_$(volume_key "$name")"
        fi
        echo "$name: down"
        exit $vrc
        ;;
      status) if svc_status; then echo "$name: running"; else echo "$name: stopped"; exit 1; fi ;;
    esac
  ) || rc=$?
done
# `down` of everything also sweeps what a crash may have left under $STATE/volumes
if [ "$action" = down ] && [ "$ALL_DOWN" = 1 ]; then "$ROOT/scripts/volume.sh" sweep || rc=$?; fi
exit $rc
