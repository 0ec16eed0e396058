# MinIO, the real server, on 127.0.0.1:59100 (console 59101). Sourced by scripts/services.sh.
# MinIO ships as source: `go install` builds the server and `mc` once into $TOOLS/<name>-<version>/
# (first build ~10 min on 2 cores, later runs reuse it). The Go proxy serves no RELEASE.* tags (they
# are not semver), so the versions are pseudo-versions of fixed commits.
# Root credentials are generated into .services/env (tests and `mc` admin only). The lab access key
# `dedup-lab` gets a policy allowing s3:* on buckets `dedup-lab-*` and nothing else.
# MINIO_PROMETHEUS_AUTH_TYPE=public opens /minio/v2/metrics/* without a bearer token, and
# MINIO_SCANNER_SPEED=fastest runs the data-usage scanner every second, so the bucket-usage
# metric catches up within seconds here (production scanners lag minutes to days).
MINIO_PORT=59100
MINIO_CONSOLE_PORT=59101
# github.com/minio/minio master of 2026-02-12 (go 1.24, no replace directives); mc of 2025-03-13.
MINIO_MODULE_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MC_MODULE_VERSION=v0.0.0-20250313080218-cf909e1063a9
# Fallback toolchain when no Go >= 1.24 is on PATH (Debian 12 has 1.19): Go itself, from the Go proxy.
GO_TOOLCHAIN_MODULE=golang.org/toolchain@v0.0.1-go1.24.8.linux-amd64

minio_bin() { printf '%s' "$TOOLS/minio-$MINIO_MODULE_VERSION/minio"; }
mc_bin() { printf '%s' "$TOOLS/mc-$MC_MODULE_VERSION/mc"; }

# Path of a go command >= 1.24.
go_cmd() {
  local v
  if command -v go >/dev/null 2>&1; then
    v="$(go env GOVERSION 2>/dev/null || true)"
    if printf '%s\n' "go1.24" "$v" | sort -V -C; then command -v go; return 0; fi
  fi
  # `go mod download` fetches the toolchain zip through the Go proxy like any module; the zip
  # does not keep executable bits, so restore them as the go command's own switcher does.
  apt_need golang-go ca-certificates
  local dir
  dir="$(GOFLAGS=-mod=mod /usr/bin/go mod download -json "$GO_TOOLCHAIN_MODULE" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -n "$dir" ] || { echo "minio: could not fetch $GO_TOOLCHAIN_MODULE from the Go proxy" >&2; return 1; }
  chmod -R u+w "$dir" && chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/*
  printf '%s' "$dir/bin/go"
}

# go_tool NAME MODULE VERSION: build MODULE@VERSION into $TOOLS/NAME-VERSION/NAME unless it is there.
go_tool() {
  local name="$1" module="$2" version="$3" dir="$TOOLS/$1-$3" go tmp
  [ -x "$dir/$name" ] && return 0
  go="$(go_cmd)"
  echo "building $name $version with $("$go" env GOVERSION) (first run only; takes minutes)…" >&2
  tmp="$(mktemp -d "$TOOLS/.build-$name.XXXXXX")"
  GOBIN="$tmp" GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 "$go" install "$module@$version" >&2
  mkdir -p "$dir"
  mv "$tmp/$name" "$dir/$name"
  rm -rf "$tmp"
}

svc_install() {
  apt_need curl
  go_tool minio github.com/minio/minio "$MINIO_MODULE_VERSION"
  go_tool mc github.com/minio/mc "$MC_MODULE_VERSION"
}

minio_live() { curl -fsS -o /dev/null "http://127.0.0.1:$MINIO_PORT/minio/health/live"; }

# mc against the local server as root; the alias comes from the environment, no config file holds it.
mc_admin() {
  MC_CONFIG_DIR="$SVC_STATE/mc" MC_HOST_local="http://$(env_get DEDUP_MINIO_ROOT_USER):$(env_get DEDUP_MINIO_ROOT_PASSWORD)@127.0.0.1:$MINIO_PORT" \
    "$(mc_bin)" --quiet --no-color "$@"
}

svc_up() {
  local root_pw lab_secret data="$SVC_STATE/data"
  env_set DEDUP_MINIO_ROOT_USER dedupadmin
  root_pw="$(env_secret DEDUP_MINIO_ROOT_PASSWORD)"
  lab_secret="$(env_secret DEDUP_MINIO_SECRET_KEY)"
  mkdir -p "$data" "$SVC_STATE/mc"
  (
    cd "$SVC_STATE"
    MINIO_ROOT_USER=dedupadmin MINIO_ROOT_PASSWORD="$root_pw" MINIO_PROMETHEUS_AUTH_TYPE=public \
      MINIO_SCANNER_SPEED=fastest MINIO_UPDATE=off MINIO_BROWSER_REDIRECT=off \
      nohup "$(minio_bin)" server "$data" --address "127.0.0.1:$MINIO_PORT" \
      --console-address "127.0.0.1:$MINIO_CONSOLE_PORT" --quiet > "$SVC_STATE/minio.log" 2>&1 &
    echo $! > "$SVC_STATE/minio.pid"
  )
  wait_for 60 minio_live
  cat > "$SVC_STATE/dedup-lab-policy.json" <<'EOF'
{
  "Version": "2012-10-17",
  "Statement": [
    { "Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::dedup-lab-*", "arn:aws:s3:::dedup-lab-*/*"] }
  ]
}
EOF
  mc_admin admin policy create local dedup-lab "$SVC_STATE/dedup-lab-policy.json" >/dev/null
  mc_admin admin user add local dedup-lab "$lab_secret" >/dev/null
  if ! mc_admin admin user info local dedup-lab | grep -q 'PolicyName: *dedup-lab'; then
    mc_admin admin policy attach local dedup-lab --user dedup-lab >/dev/null
  fi
  env_set DEDUP_MINIO_HOST 127.0.0.1
  env_set DEDUP_MINIO_PORT "$MINIO_PORT"
  env_set DEDUP_MINIO_ACCESS_KEY dedup-lab
  env_set DEDUP_MINIO_DATA_DIR "$data"
  env_set DEDUP_MINIO_METRICS_URL "http://127.0.0.1:$MINIO_PORT/minio/v2/metrics/bucket"
  env_set DEDUP_MINIO_MC "$(mc_bin)"
  env_set DEDUP_MINIO_VERSION "$MINIO_MODULE_VERSION"
}

svc_down() { stop_pid "$SVC_STATE/minio.pid"; }

svc_status() { pid_alive "$SVC_STATE/minio.pid" && minio_live; }
