# PostgreSQL 15 (Debian) on 127.0.0.1:55432, state in $SVC_STATE. Sourced by scripts/services.sh.
# The lab role mirrors the shared production cluster: it owns nothing, may CREATE (a schema) in
# the shared database "appdb", may CHECKPOINT (pg_checkpoint) and run pgstattuple
# (pg_stat_scan_tables). log_statement=all lets the audit test read what the toolkit sent.
# The pg_* helpers are reused by postgres-tls.sh.

PG_PORT="${PG_PORT:-55432}"
PG_ENV="${PG_ENV:-DEDUP_PG}"     # env var prefix in .services/env
PG_DB=appdb                      # stands for the shared production database
PG_LAB_USER=dedup_lab

pg_bin() {
  local d
  for d in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { printf '%s' "$d"; return 0; }
  done
  echo "no PostgreSQL server binaries under /usr/lib/postgresql" >&2
  return 1
}

# Run a server binary as the postgres OS user when we are root (initdb and pg_ctl refuse root).
pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_install() {
  apt_need postgresql openssl
}

# pg_init EXTRA_CONF: initdb once, append our settings.
pg_init() {
  local extra="$1" bin data="$SVC_STATE/data"
  bin="$(pg_bin)"
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$SVC_STATE"
    runuser -u postgres -- test -w "$SVC_STATE" || {
      echo "postgres: the postgres OS user cannot reach $SVC_STATE — set DEDUP_LAB_STATE to a directory under /tmp" >&2
      return 1
    }
  fi
  chmod 700 "$SVC_STATE"
  [ -f "$data/PG_VERSION" ] && return 0
  pg_as_owner "$bin/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-locale >/dev/null
  cat >> "$data/postgresql.conf" <<EOF

# dedup-lab local test server
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$SVC_STATE'
fsync = off                       # tests only
full_page_writes = off
max_connections = 50
shared_buffers = 64MB
log_statement = 'all'             # the audit test reads this log
log_line_prefix = '%m [%p] user=%u db=%d '
log_parameter_max_length = 0      # never log bound values (payloads)
log_parameter_max_length_on_error = 0
$extra
EOF
}

pg_start() {
  local bin
  bin="$(pg_bin)"
  [ "$(id -u)" = 0 ] && { touch "$SVC_STATE/postgres.log"; chown postgres:postgres "$SVC_STATE/postgres.log"; }
  pg_as_owner "$bin/pg_ctl" -D "$SVC_STATE/data" -l "$SVC_STATE/postgres.log" -w -t 60 start >/dev/null
}

# psql as the superuser over the unix socket (trust), statements from stdin.
pg_psql_admin() {
  "$(pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 -h "$SVC_STATE" -p "$PG_PORT" -U postgres "$@"
}

# Roles, database, grants, extension; idempotent. Passwords go through \getenv and with
# statement logging off for that session, so they never reach the server log.
pg_setup() {
  local lab_pw admin_pw
  lab_pw="$(env_secret "${PG_ENV}_PASSWORD")"
  admin_pw="$(env_secret "${PG_ENV}_ADMIN_PASSWORD")"
  LAB_PW="$lab_pw" ADMIN_PW="$admin_pw" pg_psql_admin -d postgres <<'SQL'
SET log_statement = 'none';
SET client_min_messages = warning;
\getenv lab_pw LAB_PW
\getenv admin_pw ADMIN_PW
ALTER ROLE postgres PASSWORD :'admin_pw';
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dedup_lab') AS need_role \gset
\if :need_role
CREATE ROLE dedup_lab LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
\endif
ALTER ROLE dedup_lab PASSWORD :'lab_pw';
SELECT NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'appdb') AS need_db \gset
\if :need_db
CREATE DATABASE appdb OWNER postgres;
\endif
GRANT CONNECT, CREATE ON DATABASE appdb TO dedup_lab;
GRANT pg_checkpoint TO dedup_lab;
GRANT pg_stat_scan_tables TO dedup_lab;
SQL
  pg_psql_admin -d "$PG_DB" -c "CREATE EXTENSION IF NOT EXISTS pgstattuple" 2>/dev/null \
    || echo "postgres: pgstattuple extension not available (sizes will say so)" >&2
}

# pg_write_env HOST: endpoints for tests and examples/local-services.yaml.
pg_write_env() {
  env_set "${PG_ENV}_HOST" 127.0.0.1
  env_set "${PG_ENV}_PORT" "$PG_PORT"
  env_set "${PG_ENV}_DATABASE" "$PG_DB"
  env_set "${PG_ENV}_USER" "$PG_LAB_USER"
  env_set "${PG_ENV}_LOG" "$SVC_STATE/postgres.log"
  env_set "${PG_ENV}_ADMIN_URL" "postgresql://postgres:$(env_get "${PG_ENV}_ADMIN_PASSWORD")@127.0.0.1:$PG_PORT/$PG_DB$1"
}

pg_status() {
  [ -f "$SVC_STATE/data/postmaster.pid" ] || return 1
  "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"
}

pg_stop() {
  [ -f "$SVC_STATE/data/postmaster.pid" ] || return 0
  pg_as_owner "$(pg_bin)/pg_ctl" -D "$SVC_STATE/data" -m fast -w -t 60 stop >/dev/null
}

svc_install() { pg_install; }
svc_up() {
  pg_init ""
  pg_start
  pg_setup
  pg_write_env ""
  echo "postgres: 127.0.0.1:$PG_PORT db=$PG_DB user=$PG_LAB_USER (password: \$${PG_ENV}_PASSWORD in .services/env)"
}
svc_down() { pg_stop; }
svc_status() { pg_status; }
