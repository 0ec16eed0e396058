# The local longhorn-style exporter (lib/exporter) on 127.0.0.1:59400, scraped by the
# local Prometheus as job "longhorn". One volume per local server (PVC data-<service>-0,
# volume pvc-dedup-lab-<service>): where the server's data directory is a scripts/volume.sh
# volume ($STATE/volumes/<service>/volume.json), one series per replica image, valued at
# the image's allocated blocks (node labels replica-1…); otherwise the allocated blocks of
# the plain directory $STATE/<service>/data (one series, node-1). Plus one volume for the
# embedded systems ($SVC_STATE/volumes/embedded, PVC data-embedded-0): a replicated volume
# of three real images (btrfs raid1c3; one plain-directory series where volumes cannot be
# made), all in namespace dedup-lab. Point a run's workDir (or the directory
# system's root) at $DEDUP_EXPORTER_EMBEDDED_DIR to measure it through Prometheus.
# The config is built when the exporter starts; `services.sh up exporter` restarts it when
# the volumes changed since (svc_stale). Sourced by scripts/services.sh.
EXPORTER_PORT=59400

svc_install() {
  apt_need curl
  [ -d "$ROOT/node_modules/tsx" ] || (cd "$ROOT" && npm ci)
}

# The exporter's config on stdout (one line of JSON).
exporter_config() {
  local embedded="$SVC_STATE/volumes/embedded"
  EMBEDDED="$embedded" PORT="$EXPORTER_PORT" SERVICES="${VOLUME_SERVICES[*]}" node -e '
    const { existsSync, readFileSync } = require("node:fs");
    const { STATE, EMBEDDED, PORT, SERVICES } = process.env;
    const volumes = SERVICES.split(" ").map((s) => {
      const base = { volume: `pvc-dedup-lab-${s}`, pvc: `data-${s}-0`, namespace: "dedup-lab" };
      const file = `${STATE}/volumes/${s}/volume.json`;
      if (existsSync(file)) {
        const v = JSON.parse(readFileSync(file, "utf8"));
        return { ...base, images: v.replicas.map((r) => r.image), nodes: v.replicas.map((r) => r.id), mountpoint: v.mountpoint, capacity: v.sizeBytes };
      }
      return { ...base, paths: [`${STATE}/${s}/data`], nodes: ["node-1"] };
    });
    // The embedded systems volume: a replicated volume of three real images where volumes can be made.
    const emb = `${STATE}/volumes/embedded/volume.json`;
    const e = { volume: "pvc-dedup-lab-embedded", pvc: "data-embedded-0", namespace: "dedup-lab" };
    if (existsSync(emb)) {
      const v = JSON.parse(readFileSync(emb, "utf8"));
      volumes.push({ ...e, images: v.replicas.map((r) => r.image), nodes: v.replicas.map((r) => r.id), mountpoint: v.mountpoint, capacity: v.sizeBytes });
    } else {
      volumes.push({ ...e, paths: [EMBEDDED], nodes: ["node-1"] });
    }
    process.stdout.write(JSON.stringify({ listen: `127.0.0.1:${PORT}`, volumes }) + "\n");
  '
}

svc_up() {
  local embedded="$SVC_STATE/volumes/embedded"
  mkdir -p "$embedded"
  # Three real replica images (btrfs raid1c3) under the embedded systems' directory, where volumes can be made.
  if [ "${DEDUP_VOLUMES:-1}" != 0 ] && bash "$ROOT/scripts/volume.sh" can --profile replicated >/dev/null 2>&1; then
    bash "$ROOT/scripts/volume.sh" create embedded --profile replicated --replicas 3 --mount "$embedded" --replace-dir >/dev/null
  fi
  stop_pid "$SVC_STATE/exporter.pid" # a stale one (svc_stale)
  exporter_config > "$SVC_STATE/exporter.json"
  (
    cd "$ROOT"
    nohup node --import tsx lib/exporter/main.ts "$SVC_STATE/exporter.json" > "$SVC_STATE/exporter.log" 2>&1 &
    echo $! > "$SVC_STATE/exporter.pid"
  )
  wait_for 30 exporter_ready
  env_set DEDUP_EXPORTER_URL "http://127.0.0.1:$EXPORTER_PORT/metrics"
  env_set DEDUP_EXPORTER_EMBEDDED_DIR "$embedded"
  # The trim a run's preCellHook gives the embedded volume before every cell (fresh baselines).
  env_set DEDUP_EXPORTER_EMBEDDED_TRIM "bash $ROOT/scripts/volume.sh trim embedded"
}

exporter_ready() { curl -fsS "http://127.0.0.1:$EXPORTER_PORT/metrics" >/dev/null; }

# Running with a config other than the volumes' current one?
svc_stale() { [ "$(exporter_config)" != "$(cat "$SVC_STATE/exporter.json" 2>/dev/null)" ]; }

svc_down() { stop_pid "$SVC_STATE/exporter.pid"; }

svc_status() { pid_alive "$SVC_STATE/exporter.pid" && exporter_ready; }
