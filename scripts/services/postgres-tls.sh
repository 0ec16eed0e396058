# A second PostgreSQL 15 on 127.0.0.1:55433 that accepts TLS only (hostssl; plaintext is rejected),
# with a server certificate from a self-made CA. It stands in for CockroachDB's wire + TLS path
# (CockroachDB has no Debian package). Same roles and grants as postgres.sh, whose helpers it reuses.
PG_PORT=55433
PG_ENV=DEDUP_PGTLS
# shellcheck source=scripts/services/postgres.sh
source "$ROOT/scripts/services/postgres.sh"

TLS_NAME=localhost

# CA (CA:TRUE) and a server certificate for DNS:localhost + IP:127.0.0.1 (serverAuth), made once.
pgtls_certs() {
  local dir="$SVC_STATE/tls"
  [ -f "$dir/server.crt" ] && return 0
  mkdir -p "$dir"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" -subj "/CN=dedup-lab test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$dir/server.key" -out "$dir/server.csr" -subj "/CN=$TLS_NAME" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' "$TLS_NAME" > "$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 3650 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
  chmod 600 "$dir/server.key" "$dir/ca.key"
  chmod 644 "$dir/ca.crt" "$dir/server.crt"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir" "$dir/server.key" "$dir/server.crt"
  return 0
}

svc_install() { pg_install; }
svc_up() {
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$SVC_STATE"
  pgtls_certs
  pg_init "ssl = on
ssl_cert_file = '$SVC_STATE/tls/server.crt'
ssl_key_file = '$SVC_STATE/tls/server.key'
ssl_min_protocol_version = 'TLSv1.2'"
  # TLS only over TCP; the unix socket (local trust) is for the setup below.
  cat > "$SVC_STATE/data/pg_hba.conf" <<'EOF'
local     all all              trust
hostssl   all all 127.0.0.1/32 scram-sha-256
hostnossl all all 0.0.0.0/0    reject
EOF
  pg_start
  pg_setup
  pg_write_env "?sslmode=verify-full&sslrootcert=$SVC_STATE/tls/ca.crt"
  env_set "${PG_ENV}_CA_FILE" "$SVC_STATE/tls/ca.crt"
  env_set "${PG_ENV}_SERVER_NAME" "$TLS_NAME"
  echo "postgres-tls: 127.0.0.1:$PG_PORT TLS only, CA $SVC_STATE/tls/ca.crt, server name $TLS_NAME"
}
svc_down() { pg_stop; }
svc_status() { pg_status; }
