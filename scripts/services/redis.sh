# Redis (Debian redis-server 7.0) on 127.0.0.1:56379. Sourced by scripts/services.sh.
# Two ACL users: `default` (admin, tests only) and the lab user `dedup`, limited to keys
# `dedup:*`. Besides reads/writes, the lab user may run the connector's maintenance
# (BGSAVE, BGREWRITEAOF: they persist the dataset and read or change no key) and the
# read-only MEMORY USAGE / MEMORY STATS / INFO it measures with. Passwords are stored in
# the config as SHA-256 hashes. Data (dump.rdb, appendonlydir/) lives in $SVC_STATE/data
# so the connector's `dataDir` option can read on-disk sizes.
REDIS_PORT=56379

svc_install() { apt_need redis-server redis-tools; }

svc_up() {
  local admin_pw lab_pw data="$SVC_STATE/data" conf="$SVC_STATE/redis.conf"
  admin_pw="$(env_secret DEDUP_REDIS_ADMIN_PASSWORD)"
  lab_pw="$(env_secret DEDUP_REDIS_PASSWORD)"
  mkdir -p "$data"
  umask 077
  cat > "$conf" <<EOF
bind 127.0.0.1
port $REDIS_PORT
dir $data
pidfile $SVC_STATE/redis.pid
logfile $SVC_STATE/redis.log
daemonize yes
save ""
appendonly yes
appendfsync everysec
user default on #$(printf '%s' "$admin_pw" | sha256sum | cut -d' ' -f1) ~* &* +@all
user dedup on #$(printf '%s' "$lab_pw" | sha256sum | cut -d' ' -f1) resetkeys ~dedup:* resetchannels -@all +@read +@write +@keyspace +@connection -@dangerous +info +memory|usage +memory|stats +bgsave +bgrewriteaof
EOF
  redis-server "$conf"
  wait_for 10 redis_ping
  env_set DEDUP_REDIS_HOST 127.0.0.1
  env_set DEDUP_REDIS_PORT "$REDIS_PORT"
  env_set DEDUP_REDIS_USER dedup
  env_set DEDUP_REDIS_DATA_DIR "$data"
}

redis_ping() {
  REDISCLI_AUTH="$(env_get DEDUP_REDIS_ADMIN_PASSWORD)" redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --no-auth-warning ping | grep -q PONG
}

svc_down() { stop_pid "$SVC_STATE/redis.pid"; }

svc_status() { pid_alive "$SVC_STATE/redis.pid" && redis_ping; }
