# MariaDB (Debian's mariadb-server 10.11): mariadbd started by hand on 127.0.0.1:53306,
# its own my.cnf and datadir under $SVC_STATE. Sourced by scripts/services.sh.
#
# Users: root only over the unix socket (setup); dedup_admin (all privileges, for tests
# and the bench's reference loader); dedup_lab = the toolkit's lab user: ALL on dedup_lab.*
# plus global PROCESS (INNODB_SYS_TABLESPACES needs it) — nothing else.
# The general log goes to a file (general.log) but starts OFF: the audit test switches it
# on, because with it on every multi-row INSERT would be written to it in full.

MARIADB_PORT=53306

svc_install() {
  apt_need mariadb-server mariadb-client
}

_mariadb_cnf() { printf '%s/my.cnf' "$SVC_STATE"; }
_mariadb_sock() { printf '%s/run/mariadb.sock' "$SVC_STATE"; }

_mariadb_root() {
  mariadb --no-defaults --protocol=socket --socket="$(_mariadb_sock)" -uroot "$@"
}

svc_up() {
  local cnf lab_pw admin_pw
  cnf="$(_mariadb_cnf)"
  mkdir -p "$SVC_STATE/data" "$SVC_STATE/run" "$SVC_STATE/tmp"
  cat > "$cnf" <<EOF
[mysqld]
user=mysql
datadir=$SVC_STATE/data
tmpdir=$SVC_STATE/tmp
socket=$(_mariadb_sock)
pid-file=$SVC_STATE/run/mariadbd.pid
bind-address=127.0.0.1
port=$MARIADB_PORT
skip-name-resolve
log-error=$SVC_STATE/error.log
general_log=0
general_log_file=$SVC_STATE/general.log
log_output=FILE
innodb_buffer_pool_size=128M
innodb_file_per_table=1
max_allowed_packet=64M
local_infile=1
# tests only: durability is not what the lab measures on the local server
innodb_flush_log_at_trx_commit=2
# flush dirty pages when idle (lwm > 0 enables idle flushing): the connector waits for a
# cell's pages to reach the .ibd files before reading ALLOCATED_SIZE
innodb_max_dirty_pages_pct_lwm=0.001
innodb_io_capacity=5000
innodb_io_capacity_max=10000
EOF
  chown -R mysql:mysql "$SVC_STATE"
  if [ ! -d "$SVC_STATE/data/mysql" ]; then
    mariadb-install-db --defaults-file="$cnf" --skip-test-db --auth-root-authentication-method=socket \
      > "$SVC_STATE/install.log" 2>&1 || { cat "$SVC_STATE/install.log" >&2; return 1; }
  fi
  # setsid: the server outlives this script and is stopped by PID only
  setsid mariadbd --defaults-file="$cnf" >> "$SVC_STATE/mariadbd.out" 2>&1 < /dev/null &
  if ! wait_for 60 mariadb-admin --no-defaults --socket="$(_mariadb_sock)" -uroot ping; then
    tail -20 "$SVC_STATE/error.log" >&2
    return 1
  fi

  lab_pw="$(env_secret DEDUP_MARIADB_PASSWORD)"
  admin_pw="$(env_secret DEDUP_MARIADB_ADMIN_PASSWORD)"
  _mariadb_root <<EOF
CREATE USER IF NOT EXISTS 'dedup_admin'@'127.0.0.1' IDENTIFIED BY '$admin_pw';
ALTER USER 'dedup_admin'@'127.0.0.1' IDENTIFIED BY '$admin_pw';
GRANT ALL PRIVILEGES ON *.* TO 'dedup_admin'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS 'dedup_lab'@'127.0.0.1' IDENTIFIED BY '$lab_pw';
ALTER USER 'dedup_lab'@'127.0.0.1' IDENTIFIED BY '$lab_pw';
GRANT ALL PRIVILEGES ON \`dedup_lab\`.* TO 'dedup_lab'@'127.0.0.1';
GRANT PROCESS ON *.* TO 'dedup_lab'@'127.0.0.1';
FLUSH PRIVILEGES;
EOF
  env_set DEDUP_MARIADB_HOST 127.0.0.1
  env_set DEDUP_MARIADB_PORT "$MARIADB_PORT"
  env_set DEDUP_MARIADB_USER dedup_lab
  env_set DEDUP_MARIADB_ADMIN_USER dedup_admin
  env_set DEDUP_MARIADB_SOCKET "$(_mariadb_sock)"
  env_set DEDUP_MARIADB_GENERAL_LOG "$SVC_STATE/general.log"
  env_set DEDUP_MARIADB_PID_FILE "$SVC_STATE/run/mariadbd.pid"
  echo "mariadb: 127.0.0.1:$MARIADB_PORT (lab user dedup_lab, password in \$DEDUP_MARIADB_PASSWORD)"
}

svc_down() {
  stop_pid "$SVC_STATE/run/mariadbd.pid"
}

svc_status() {
  pid_alive "$SVC_STATE/run/mariadbd.pid" &&
    MYSQL_PWD="$(env_get DEDUP_MARIADB_PASSWORD)" mariadb-admin --no-defaults --protocol=tcp -h127.0.0.1 -P"$MARIADB_PORT" -u"$(env_get DEDUP_MARIADB_USER)" \
      ping >/dev/null 2>&1
}
