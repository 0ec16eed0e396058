#!/usr/bin/env bash
# Local stand-ins for Longhorn volumes: one filesystem on loop devices backed by sparse image
# files, one image per replica (thin, and shrinking only after a trim, like Longhorn's
# replica files). The ONE implementation of volume operations: scripts/services.sh and the
# TypeScript runner (child_process) both call this script.
#
#   scripts/volume.sh create NAME --profile thin|replicated|compressed|dedup --mount DIR
#                            [--replicas N] [--size 2G] [--owner USER:GROUP] [--replace-dir]
#   scripts/volume.sh destroy NAME     umount, detach loops, delete the volume directory (idempotent)
#   scripts/volume.sh sync NAME        syncfs the mount (btrfs: btrfs filesystem sync)
#   scripts/volume.sh trim NAME        sync, then fstrim; prints "trimmed <bytes>"
#   scripts/volume.sh maintain NAME    dedup: duperemove, then sync+trim; others: sync+trim (one line)
#   scripts/volume.sh status [NAME]    volume.json (array without NAME) with live "mounted"
#   scripts/volume.sh sweep            unmount/detach everything backed by images under $STATE/volumes
#   scripts/volume.sh can [--profile P]  exit 0 when volumes can be made here, else one line + exit 3
#
# State: ${DEDUP_LAB_STATE:-/tmp/dedup_lab_services}/volumes/NAME/{replica-N.img,volume.json}.
# Exit codes: 0 ok, 1 failure, 2 usage/conflict (one line naming the fix), 3 cannot make volumes here.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${DEDUP_LAB_STATE:-/tmp/dedup_lab_services}"
VOLROOT="$STATE/volumes"
# shellcheck source=scripts/services/lib.sh
source "$HERE/services/lib.sh" # apt_need

die() { echo "volume.sh: $1" >&2; exit "${2:-1}"; }
usage() {
  die "usage: scripts/volume.sh create NAME --profile thin|replicated|compressed|dedup --mount DIR [--replicas N] [--size 2G] [--owner USER:GROUP] [--replace-dir] | destroy NAME | sync NAME | trim NAME | maintain NAME | status [NAME] | sweep | can [--profile P]" 2
}

check_name() {
  [[ "${1:-}" =~ ^[a-z0-9][a-z0-9._-]{0,62}$ ]] || die "invalid volume name '${1:-}' (expected ^[a-z0-9][a-z0-9._-]{0,62}\$)" 2
}

fs_of_profile() {
  case "$1" in
    thin) echo ext4 ;;
    replicated|compressed|dedup) echo btrfs ;;
    *) die "unknown profile '$1' (thin|replicated|compressed|dedup)" 2 ;;
  esac
}

# What is missing to make volumes of PROFILE here (empty = nothing).
missing_for() {
  local profile="${1:-}" miss=()
  [ "$(id -u)" = 0 ] || miss+=("root (running as uid $(id -u))")
  [ -e /dev/loop-control ] || miss+=("/dev/loop-control")
  local t tools=(losetup mkfs.ext4 mount umount fstrim findmnt jq)
  if [ -n "$profile" ] && [ "$(fs_of_profile "$profile")" = btrfs ]; then tools+=(mkfs.btrfs btrfs); fi
  [ "$profile" = dedup ] && tools+=(duperemove)
  for t in "${tools[@]}"; do command -v "$t" >/dev/null 2>&1 || miss+=("$t"); done
  local IFS=,
  printf '%s' "${miss[*]}"
}

cmd_can() {
  local profile=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --profile) profile="${2:-}"; shift 2 || usage ;;
      *) usage ;;
    esac
  done
  [ -z "$profile" ] || fs_of_profile "$profile" >/dev/null
  local m
  m="$(missing_for "$profile")"
  if [ -n "$m" ]; then
    echo "cannot make volumes${profile:+ ($profile)} here: missing ${m//,/, }"
    exit 3
  fi
}

json_str() { jq -Rn --arg s "$1" '$s'; }

# Loops (one per line: "/dev/loopN<TAB>backing file") whose backing file lies under PREFIX/.
loops_under() {
  local prefix="${1%/}/" dev back
  losetup -l -n --raw -O NAME,BACK-FILE 2>/dev/null | while read -r dev back; do
    back="${back% (deleted)}"
    case "$back" in "$prefix"*) printf '%s\t%s\n' "$dev" "$back" ;; esac
  done
}

# ext4 hands small files blocks from a per-CPU 2 MiB group preallocation; the unused rest of it is
# free on disk but reserved in memory, so fstrim skips it. Where an earlier file had written those
# blocks, they stayed allocated in the image after every trim (measured: 1.9 MB "freed but still
# allocated" before 4 of 15 DuckDB per-unit inserts; the default job's DuckDB cells had 20 invalid rows
# at 512 blocks, 0 at 1). One block per group preallocation: nothing to skip. The setting lives in
# sysfs per mount. DEDUP_LAB_EXT4_GROUP_PREALLOC=512 (the kernel's default) brings the trap back on purpose.
ext4_tune() {
  local prealloc="/sys/fs/ext4/$(basename "$(readlink -f "$1")")/mb_group_prealloc"
  if [ -w "$prealloc" ]; then echo "${DEDUP_LAB_EXT4_GROUP_PREALLOC:-1}" > "$prealloc"; fi
}

# Unmount every mount of DEV (all targets), then forget (btrfs) and detach it.
release_loop() {
  local dev="$1" t
  while read -r t; do
    [ -n "$t" ] || continue
    t="$(printf '%b' "$t")" # findmnt -r escapes blanks as \x20
    umount "$t" 2>/dev/null || {
      local who
      who="$(fuser -vm "$t" 2>&1 | awk 'NR>1{print $3"("$NF")"}' | sort -u | tr '\n' ' ' || true)"
      echo "volume.sh: cannot unmount $t (busy${who:+: $who}) — stop what uses it first" >&2
      return 1
    }
  done < <(findmnt -rn -S "$dev" -o TARGET 2>/dev/null || true)
  command -v btrfs >/dev/null 2>&1 && btrfs device scan --forget "$dev" >/dev/null 2>&1 || true
  losetup -d "$dev" 2>/dev/null || true
}

# Unmount and detach everything backed by files under DIR; does not delete DIR.
release_dir() {
  local dir="$1" dev back rc=0 devs=()
  while IFS=$'\t' read -r dev back; do devs+=("$dev"); done < <(loops_under "$dir")
  # Unmount first (a multi-device btrfs lists only one of its loops as source), then detach.
  for dev in "${devs[@]}"; do release_loop "$dev" || rc=1; done
  return $rc
}

vol_dir() { printf '%s/%s' "$VOLROOT" "$1"; }
vol_json() { printf '%s/volume.json' "$(vol_dir "$1")"; }

is_mounted_here() { # MOUNTPOINT FIRST_LOOP… : mounted at MOUNTPOINT from one of the loops
  local mp="$1" src; shift
  src="$(findmnt -rn -M "$mp" -o SOURCE 2>/dev/null | head -1)" || return 1
  [ -n "$src" ] || return 1
  local l
  for l in "$@"; do [ "$src" = "$l" ] && return 0; done
  return 1
}

vol_mounted() { # NAME → 0 when its filesystem is mounted at the recorded mountpoint from its loops
  local j mp loops
  j="$(vol_json "$1")"
  [ -f "$j" ] || return 1
  mp="$(jq -r .mountpoint "$j")"
  mapfile -t loops < <(jq -r '.replicas[].loop' "$j")
  # the loops must still be backed by this volume's images
  local i img cur
  for i in "${!loops[@]}"; do
    img="$(jq -r ".replicas[$i].image" "$j")"
    cur="$(losetup -n -O BACK-FILE "${loops[$i]}" 2>/dev/null | sed 's/ (deleted)$//' | tr -d ' ')" || return 1
    [ "$cur" = "$img" ] || return 1
  done
  is_mounted_here "$mp" "${loops[@]}"
}

do_sync() { # FS MOUNTPOINT
  if [ "$1" = btrfs ]; then btrfs filesystem sync "$2" >/dev/null; else sync -f "$2"; fi
}

fstrim_bytes() { # MOUNTPOINT → bytes fstrim reports
  fstrim -v "$1" | sed -n 's/.*(\([0-9]*\) bytes) trimmed.*/\1/p'
}

# fstrim the mount; prints the trimmed bytes (of the first pass).
do_trim() { # FS MOUNTPOINT
  local bytes
  do_sync "$1" "$2"
  bytes="$(fstrim_bytes "$2")"
  do_sync "$1" "$2"
  # btrfs: the commit above frees the tree blocks the first trim's transaction replaced
  # (≈ 0.2 MB after a duperemove pass); a second pass returns them too. btrfs does not
  # remember trimmed ranges, so its second count repeats the first and is not added.
  if [ "$1" = btrfs ]; then fstrim "$2"; do_sync "$1" "$2"; fi
  printf '%s' "${bytes:-0}"
}

need_volume() { # NAME → sets FS, MP; exits 1 when absent/not mounted
  check_name "$1"
  local j
  j="$(vol_json "$1")"
  [ -f "$j" ] || die "no volume '$1' (no $j)"
  FS="$(jq -r .fs "$j")"
  MP="$(jq -r .mountpoint "$j")"
  PROFILE="$(jq -r .profile "$j")"
  vol_mounted "$1" || die "volume '$1' is not mounted at $MP (recreate it: scripts/volume.sh create $1 …)"
}

allocated_bytes() { # FILE → st_blocks*512
  local b u
  read -r b u < <(stat -c '%b %B' "$1")
  echo $((b * u))
}

statfs_used() { # MOUNTPOINT → (f_blocks - f_bfree) * f_frsize
  local blocks free frsize
  read -r blocks free frsize < <(stat -f -c '%b %f %S' "$1")
  echo $(((blocks - free) * frsize))
}

size_bytes() { # 2G / 512M / 1073741824 → bytes (binary units, like truncate)
  local s="$1" n u
  [[ "$s" =~ ^([0-9]+)([KkMmGgTt]?)(i?B)?$ ]] || die "invalid --size '$s' (e.g. 2G, 512M)" 2
  n="${BASH_REMATCH[1]}"; u="${BASH_REMATCH[2],,}"
  case "$u" in
    "") echo "$n" ;; k) echo $((n << 10)) ;; m) echo $((n << 20)) ;; g) echo $((n << 30)) ;; t) echo $((n << 40)) ;;
  esac
}

# ---- create -------------------------------------------------------------------------------

CREATED_DIR="" # undo state for the trap
undo_create() {
  local rc=$?
  if [ -n "$CREATED_DIR" ]; then
    [ $rc -ne 0 ] && echo "volume.sh: create failed, undoing" >&2
    release_dir "$CREATED_DIR" || true
    rm -rf "$CREATED_DIR"
  fi
  exit $rc
}

cmd_create() {
  local name="${1:-}" profile="" mount="" replicas="" size="2G" owner="" replace=0
  shift || usage
  check_name "$name"
  while [ $# -gt 0 ]; do
    case "$1" in
      --profile) profile="${2:-}"; shift 2 || usage ;;
      --mount) mount="${2:-}"; shift 2 || usage ;;
      --replicas) replicas="${2:-}"; shift 2 || usage ;;
      --size) size="${2:-}"; shift 2 || usage ;;
      --owner) owner="${2:-}"; shift 2 || usage ;;
      --replace-dir) replace=1; shift ;;
      *) usage ;;
    esac
  done
  [ -n "$profile" ] && [ -n "$mount" ] || usage
  local fs
  fs="$(fs_of_profile "$profile")"
  case "$profile" in
    replicated) replicas="${replicas:-2}"; [[ "$replicas" =~ ^[23]$ ]] || die "profile replicated takes --replicas 2 or 3, not '$replicas'" 2 ;;
    *) replicas="${replicas:-1}"; [ "$replicas" = 1 ] || die "profile $profile takes one replica, not '$replicas' (use --profile replicated)" 2 ;;
  esac
  local bytes
  bytes="$(size_bytes "$size")"
  [ "$bytes" -ge $((256 << 20)) ] || die "--size $size is too small (at least 256M)" 2
  if [ -n "$owner" ]; then
    [[ "$owner" =~ ^[^:]+(:[^:]+)?$ ]] || die "invalid --owner '$owner' (USER:GROUP)" 2
    id -u "${owner%%:*}" >/dev/null 2>&1 || die "--owner: no user '${owner%%:*}'" 2
  fi
  mount="$(realpath -m "$mount")"

  local dir json
  dir="$(vol_dir "$name")"
  json="$dir/volume.json"
  if [ -f "$json" ]; then
    local p r m
    p="$(jq -r .profile "$json")"; r="$(jq -r '.replicas|length' "$json")"; m="$(jq -r .mountpoint "$json")"
    if [ "$p" != "$profile" ] || [ "$r" != "$replicas" ]; then
      die "volume '$name' exists as $p with $r replica(s), not $profile with $replicas — run scripts/volume.sh destroy $name first" 2
    fi
    if [ "$m" != "$mount" ]; then
      die "volume '$name' is mounted at $m, not $mount — run scripts/volume.sh destroy $name first" 2
    fi
    if vol_mounted "$name"; then
      # (a volume made before the setting existed, e.g. the running services', gets it here)
      [ "$(jq -r .fs "$json")" = ext4 ] && ext4_tune "$(jq -r '.replicas[0].loop' "$json")"
      echo "$json"
      return 0
    fi
    # Exists, but not mounted (reboot, or someone unmounted it): a stale volume; start afresh.
    echo "volume.sh: volume '$name' exists but is not mounted at $mount; recreating it" >&2
  fi
  if [ -d "$dir" ]; then # stale, or a crash leftover without volume.json
    release_dir "$dir" || die "cannot release the leftovers of volume '$name' under $dir"
    rm -rf "$dir"
  fi

  local m
  m="$(missing_for "$profile")"
  if [ -n "$m" ] && [ "$(id -u)" = 0 ] && [ "$fs" = btrfs ]; then
    # the storage tools are installable here: install what the profile needs, then look again
    apt_need btrfs-progs
    [ "$profile" = dedup ] && apt_need duperemove
    m="$(missing_for "$profile")"
  fi
  [ -z "$m" ] || die "cannot make volumes ($profile) here: missing ${m//,/, }" 3

  if mountpoint -q "$mount" 2>/dev/null; then
    die "$mount is already a mountpoint (of $(findmnt -rn -M "$mount" -o SOURCE | head -1)) — unmount it or choose another --mount" 2
  fi
  if [ -e "$mount" ] && [ ! -d "$mount" ]; then die "--mount $mount exists and is not a directory" 2; fi
  if [ -d "$mount" ] && [ -n "$(ls -A "$mount")" ]; then
    [ $replace = 1 ] || die "--mount $mount is not empty — empty it, or pass --replace-dir to remove its contents" 2
    find "$mount" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
  fi

  CREATED_DIR="$dir"
  trap undo_create EXIT
  trap 'exit 130' INT TERM
  mkdir -p "$VOLROOT" "$dir" "$mount"
  chmod 700 "$dir"
  local i loops=() imgs=()
  for ((i = 1; i <= replicas; i++)); do
    imgs+=("$dir/replica-$i.img")
    truncate -s "$bytes" "$dir/replica-$i.img"
    loops+=("$(losetup --find --show "$dir/replica-$i.img")")
  done
  local opts=""
  case "$profile" in
    thin)
      mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "${loops[0]}"
      ;;
    replicated)
      if [ "$replicas" = 3 ]; then
        mkfs.btrfs -q -f -d raid1c3 -m raid1c3 "${loops[@]}" >/dev/null
      else
        mkfs.btrfs -q -f -d raid1 -m raid1 "${loops[@]}" >/dev/null
      fi
      for l in "${loops[@]}"; do btrfs device scan "$l" >/dev/null; done
      ;;
    # One image: metadata single, not btrfs's DUP default — redundancy is the replicas' job, and
    # DUP would count every metadata block twice (measured, 1,000 × 16 KiB at 90 % duplicates
    # after duperemove: DUP 1/5.6, --mixed 1/7.4, single 1/7.5 of the bytes written).
    compressed) mkfs.btrfs -q -f -d single -m single "${loops[0]}" >/dev/null; opts="compress-force=zstd" ;;
    dedup) mkfs.btrfs -q -f -d single -m single "${loops[0]}" >/dev/null ;;
  esac
  # btrfs turns on discard=async by itself where the device can discard (kernel ≥ 6.2): off, so
  # freed space returns to the images only on trim, as with ext4 (and deterministically).
  [ "$fs" = btrfs ] && opts="${opts:+$opts,}nodiscard"
  mount -t "$fs" ${opts:+-o "$opts"} "${loops[0]}" "$mount"
  [ "$fs" = ext4 ] && rmdir "$mount/lost+found"
  [ "$fs" = ext4 ] && ext4_tune "${loops[0]}"   # see ext4_tune
  [ -n "$owner" ] && chown "$owner" "$mount"
  # Trim once, so the empty baseline is what a trim returns to (mkfs.btrfs leaves blocks a
  # first fstrim releases; on ext4 this releases nothing).
  do_trim "$fs" "$mount" >/dev/null

  local alloc=() replicas_json="" created
  for ((i = 0; i < replicas; i++)); do
    alloc+=("$(allocated_bytes "${imgs[$i]}")")
    [ $i -eq 0 ] || replicas_json+=","
    replicas_json+="{\"id\":\"replica-$((i + 1))\",\"image\":$(json_str "${imgs[$i]}"),\"loop\":$(json_str "${loops[$i]}")}"
  done
  created="$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)"
  local used
  used="$(statfs_used "$mount")"
  jq -n -c \
    --arg name "$name" --arg profile "$profile" --arg fs "$fs" --arg mp "$mount" --arg opts "$opts" \
    --argjson size "$bytes" --argjson replicas "[$replicas_json]" --arg created "$created" \
    --argjson alloc "[$(IFS=,; echo "${alloc[*]}")]" --argjson used "$used" \
    '{name:$name,profile:$profile,fs:$fs,mountpoint:$mp,mountOptions:$opts,sizeBytes:$size,replicas:$replicas,createdAt:$created,emptyAllocatedBytes:$alloc,emptyUsedBytes:$used}' \
    > "$json.tmp"
  mv "$json.tmp" "$json"
  CREATED_DIR=""
  trap - EXIT INT TERM
  echo "$json"
}

# ---- the other commands --------------------------------------------------------------------

cmd_destroy() {
  local name="${1:-}"
  check_name "$name"
  local dir
  dir="$(vol_dir "$name")"
  [ -d "$dir" ] || return 0
  release_dir "$dir" || die "volume '$name' left in place: it could not be released"
  rm -rf "$dir"
}

cmd_sync() { need_volume "${1:-}"; do_sync "$FS" "$MP"; }

cmd_trim() { need_volume "${1:-}"; echo "trimmed $(do_trim "$FS" "$MP")"; }

cmd_maintain() {
  need_volume "${1:-}"
  local t0 t1 trimmed
  t0="$(date +%s.%N)"
  if [ "$PROFILE" = dedup ]; then
    command -v duperemove >/dev/null 2>&1 || apt_need duperemove
    do_sync "$FS" "$MP"
    local log="$(vol_dir "$1")/duperemove.log"
    duperemove -rd -b 4096 --dedupe-options=partial --hashfile="$(vol_dir "$1")/duperemove.hash" "$MP" > "$log" 2>&1 \
      || { tail -5 "$log" >&2; die "duperemove failed on $MP (log: $log)"; }
    trimmed="$(do_trim "$FS" "$MP")"
    t1="$(date +%s.%N)"
    printf 'maintain %s: duperemove -rd -b 4096 --dedupe-options=partial on %s, sync, trimmed %s bytes (%.1f s)\n' "$1" "$MP" "$trimmed" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')"
  else
    trimmed="$(do_trim "$FS" "$MP")"
    t1="$(date +%s.%N)"
    printf 'maintain %s: sync, trimmed %s bytes (%.1f s)\n' "$1" "$trimmed" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')"
  fi
}

status_one() { # NAME → volume.json + live "mounted"
  local mounted=false
  vol_mounted "$1" && mounted=true
  jq -c --argjson m "$mounted" '. + {mounted: $m}' "$(vol_json "$1")"
}

cmd_status() {
  if [ $# -gt 0 ]; then
    check_name "$1"
    [ -f "$(vol_json "$1")" ] || die "no volume '$1'"
    status_one "$1"
    return 0
  fi
  local j out=()
  for j in "$VOLROOT"/*/volume.json; do
    [ -f "$j" ] || continue
    out+=("$(status_one "$(basename "$(dirname "$j")")")")
  done
  printf '[%s]\n' "$(IFS=,; echo "${out[*]}")"
}

cmd_sweep() {
  local rc=0 d
  [ -d "$VOLROOT" ] || { loops_under "$VOLROOT" | grep -q . || return 0; }
  release_dir "$VOLROOT" || rc=1
  if [ $rc = 0 ]; then
    for d in "$VOLROOT"/*/; do [ -d "$d" ] && rm -rf "$d"; done
  fi
  [ $rc = 0 ] || die "sweep: some volumes under $VOLROOT are busy and were left in place"
}

cmd="${1:-}"
shift || true
# jq reads and writes volume.json; `can` only reports it missing
if [ "$cmd" != can ] && ! command -v jq >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then apt_need jq; fi
# One mutation at a time per state root (two creates of one NAME, a sweep during a create).
case "$cmd" in
  create|destroy|sweep)
    mkdir -p "$STATE"
    exec 9>"$STATE/volumes.lock"
    flock -w 120 9 || die "another scripts/volume.sh holds $STATE/volumes.lock"
    ;;
esac
case "$cmd" in
  create) cmd_create "$@" ;;
  destroy) cmd_destroy "$@" ;;
  sync) cmd_sync "$@" ;;
  trim) cmd_trim "$@" ;;
  maintain) cmd_maintain "$@" ;;
  status) cmd_status "$@" ;;
  sweep) cmd_sweep "$@" ;;
  can) cmd_can "$@" ;;
  *) usage ;;
esac
