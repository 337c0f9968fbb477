#!/usr/bin/env bash
# bench.sh — mailvault beside tar|zstd, restic and borg on the same store, in
# the same run. Run by `make bench`; see README "Benchmarks".
#
#   bench/bench.sh [SIZE ...]        sizes in messages, default 100000
#
# Env: ROUNDS=3                      rounds, interleaved across tools
#      TOOLS="mailvault tarzstd restic borg"
#      BENCH_DIR=/var/tmp/mailvault-bench   stores (built once), work, results
#      DROP=1                        drop the page cache before each timed step
#
# Every tool runs on a fresh copy of the store (cp -a, not timed): full
# backup, no-change run, +1 % new deliveries and a run, restore of one user
# and of everything, and for tools that mount: mount ready, find over the
# tree, tar of one user, ls -l of the largest folder, the mount's peak RSS.
# Each timed step runs under /usr/bin/time -v; one CSV row per measurement:
#   store,tool,round,figure,wall_s,user_s,sys_s,maxrss_kb,rc,value
# The table (medians, min–max, ratios of mailvault to each peer) is printed
# by internal/tools/benchtable at the end.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}
TOOLS=${TOOLS:-"mailvault tarzstd restic borg"}
BENCH_DIR=${BENCH_DIR:-/var/tmp/mailvault-bench}
DROP=${DROP:-1}
SIZES=${*:-100000}
RESULTS=$BENCH_DIR/results/$(date -u +%Y%m%dT%H%M%SZ)
BIN=$BENCH_DIR/bin
export RESTIC_PASSWORD=bench                     # restic always encrypts
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
MOUNT_PID=""

die() { echo "bench: $*" >&2; exit 1; }
for t in $TOOLS; do
  case $t in
  mailvault) ;;
  tarzstd) command -v zstd >/dev/null || die "zstd is missing: apt-get install -y zstd" ;;
  restic|borg) command -v "$t" >/dev/null || die "$t is missing: apt-get install -y ${t/borg/borgbackup}" ;;
  *) die "unknown tool $t (known: mailvault tarzstd restic borg)" ;;
  esac
  # borg mounts through llfuse, which Debian's borgbackup only suggests
  if [ "$t" = borg ]; then
    "$(sed -n '1s/^#! *//p' "$(command -v borg)")" -c 'import llfuse' 2>/dev/null ||
      die "borg cannot mount without llfuse: apt-get install -y python3-llfuse"
  fi
done
[ -x /usr/bin/time ] || die "/usr/bin/time is missing: apt-get install -y time"
mkdir -p "$BIN" "$RESULTS"
(cd "$ROOT" && go build -o "$BIN/mailvault" ./cmd/mailvault && go build -o "$BIN/mkstore" ./internal/tools/mkstore) ||
  die "cannot build mailvault"
MV=$BIN/mailvault
CSV=$RESULTS/bench.csv
echo "store,tool,round,figure,wall_s,user_s,sys_s,maxrss_kb,rc,value" > "$CSV"

stop_mount() {
  [ -n "$MOUNT_PID" ] || return 0
  kill -TERM "$MOUNT_PID" 2>/dev/null
  wait "$MOUNT_PID" 2>/dev/null
  MOUNT_PID=""
  # a mount that died without unmounting leaves "transport endpoint is not connected"
  if grep -qs " $MNT fuse" /proc/mounts; then fusermount3 -uz "$MNT" 2>/dev/null || umount -l "$MNT"; fi
  return 0
}
# discard DIR: move a finished tool's tree aside; the trash goes when the
# bench ends. On ext4 without a journal the inode allocator skips inodes
# freed in the last minutes (recently_deleted), so deleting one tool's
# 200 000 files right before the next tool restores made that restore
# several times slower, by the order the tools ran in, not by the tool.
TRASH=$BENCH_DIR/trash
discard() {
  [ -e "$1" ] || return 0
  mkdir -p "$TRASH" && mv "$1" "$TRASH/$(date +%s%N)"
}
trap 'stop_mount; rm -rf "$TRASH"' EXIT
trap 'exit 130' INT TERM

DROPPED=no
dropcaches() {
  [ "$DROP" = 1 ] || return 0
  sync
  if echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then DROPPED=yes; else DROPPED=no; fi
}

# measure TOOL FIGURE 'command': one CSV row, the command's output to the log
measure() {
  local tool=$1 fig=$2 cmd=$3 tf t0 t1 rc
  tf=$(mktemp)
  dropcaches
  echo "== $(date +%T) $tool r$ROUND $fig: $cmd" >> "$LOG"
  t0=$(date +%s.%N)
  /usr/bin/time -v -o "$tf" bash -c "$cmd" >> "$LOG" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  printf '%s,%s,%s,%s,%.3f,%s,%s,%s,%s,\n' "$TAG" "$tool" "$ROUND" "$fig" "$(echo "$t1 - $t0" | bc -l)" \
    "$(awk -F': ' '/User time/{print $2}' "$tf")" "$(awk -F': ' '/System time/{print $2}' "$tf")" \
    "$(awk -F': ' '/Maximum resident/{print $2}' "$tf")" "$rc" >> "$CSV"
  printf '  %-9s r%s %-14s %7.2fs rc=%s\n' "$tool" "$ROUND" "$fig" "$(echo "$t1 - $t0" | bc -l)" "$rc"
  rm -f "$tf"
  [ "$rc" = 0 ] || echo "  (see $LOG)"
}
value() { printf '%s,%s,%s,%s,,,,,,%s\n' "$TAG" "$1" "$ROUND" "$2" "$3" >> "$CSV"; }

# wait_for PATH: seconds until PATH exists while the mount runs
wait_for() {
  local t0 t1
  t0=$(date +%s.%N)
  for _ in $(seq 1 3000); do
    [ -e "$1" ] && break
    kill -0 "$MOUNT_PID" 2>/dev/null || { echo -1; return 1; }
    sleep 0.01
  done
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}

# mount_ready TOOL PATH: how long until PATH shows in the mount; a mount
# that died is counted as failed, not timed
mount_ready() {
  local s
  if s=$(wait_for "$2"); then value "$1" mount_ready_s "$s"; else value "$1" mount_ready_s:failed 1; fi
}

# mount_figures TOOL ROOT ONE BIG: ROOT is the store's tree in the mount,
# ONE the path of one user below it, BIG the largest folder's cur/.
mount_figures() {
  local tool=$1 root=$2 one=$3 big=$4
  if [ ! -d "$root" ]; then echo "mount root $root missing" >> "$LOG"; value "$tool" mount_error 1; return; fi
  measure "$tool" mnt_find "find '$root' -type f | wc -l > '$WORK/count'"
  value "$tool" mnt_find_files "$(cat "$WORK/count")"
  measure "$tool" mnt_tar_user "tar -C '$root' -cf - '$one' | wc -c > '$WORK/count'"
  value "$tool" mnt_tar_bytes "$(cat "$WORK/count")"
  measure "$tool" mnt_ls_largest "ls -l '$root/$big' | wc -l > '$WORK/count'"
  value "$tool" mnt_ls_entries "$(cat "$WORK/count")"
  value "$tool" mount_vmhwm_kb "$(awk '/VmHWM/{print $2}' "/proc/$MOUNT_PID/status")"
  # without the files it maps (mailvault: the index's tables, badger's mmap)
  value "$tool" mount_rssanon_kb "$(awk '/RssAnon/{print $2}' "/proc/$MOUNT_PID/status")"
}

# one round of one tool on a fresh copy of the store
run_tool() {
  local tool=$1 repo=$WORK/repo rt=$WORK/restore src=$WORK/store
  LOG=$RESULTS/$TAG-$tool-r$ROUND.log
  stop_mount
  discard "$WORK"; mkdir -p "$WORK" "$MNT" "$rt"
  cp -a "$STORE" "$src"
  chown mail:mail "$rt"
  local S=${src#/} q
  case $tool in
  mailvault)
    q="'$MV' backup --repo '$repo' --server bench --quiet 'maildir:$src/%d/%n/Maildir'"
    measure mailvault full "$q"
    value mailvault repo_bytes_full "$(du -sb "$repo/archives" | cut -f1)"
    value mailvault index_bytes "$(du -sb "$repo/index" | cut -f1)"
    measure mailvault nochange "$q"
    add_mail
    measure mailvault incr "$q"
    value mailvault repo_bytes_incr "$(du -sb "$repo/archives" | cut -f1)"
    measure mailvault restore_one "'$MV' restore --repo '$repo' '/bench/user/$ONE_USER' --to 'maildir:$rt/%d/%n/Maildir'"
    rt=$WORK/restore-all; mkdir -p "$rt"; chown mail:mail "$rt"
    measure mailvault restore_all "'$MV' restore --repo '$repo' /bench --to 'maildir:$rt/%d/%n/Maildir'"
    value mailvault restored_files "$(find "$rt" -type f \( -path '*/cur/*' -o -path '*/new/*' \) | wc -l)"
    dropcaches
    "$MV" mount --repo "$repo" "$MNT" >> "$LOG" 2>&1 &
    MOUNT_PID=$!
    mount_ready mailvault "$MNT/bench/user/$ONE_USER"
    mount_figures mailvault "$MNT/bench/user" "$ONE_USER" "$BIG_MV"
    ;;
  tarzstd)
    q="tar -C / --listed-incremental='$repo/snar' -cf - '$S' | zstd -1 -T0 -q -c"
    mkdir -p "$repo"
    measure tarzstd full "$q > '$repo/0.tar.zst'"
    value tarzstd repo_bytes_full "$(du -sb "$repo" | cut -f1)"
    measure tarzstd nochange "$q > '$repo/1.tar.zst'"
    add_mail
    measure tarzstd incr "$q > '$repo/2.tar.zst'"
    value tarzstd repo_bytes_incr "$(du -sb "$repo" | cut -f1)"
    measure tarzstd restore_one "for i in 0 1 2; do zstd -dc '$repo/'\$i.tar.zst | tar -C '$rt' --listed-incremental=/dev/null -xf - '$S/$ONE' || exit 1; done"
    rt=$WORK/restore-all; mkdir -p "$rt"
    measure tarzstd restore_all "for i in 0 1 2; do zstd -dc '$repo/'\$i.tar.zst | tar -C '$rt' --listed-incremental=/dev/null -xf - || exit 1; done"
    value tarzstd restored_files "$(find "$rt" -type f \( -path '*/cur/*' -o -path '*/new/*' \) | wc -l)"
    ;;
  restic)
    # restic's cache and borg's state live in the work dir (not the caller's home)
    local restic="env XDG_CACHE_HOME=$WORK/cache restic"
    $restic init -q -r "$repo" >> "$LOG" 2>&1 || die "restic init"
    q="$restic -q -r '$repo' backup '$src'"
    measure restic full "$q"
    value restic repo_bytes_full "$(du -sb "$repo" | cut -f1)"
    measure restic nochange "$q"
    add_mail
    measure restic incr "$q"
    value restic repo_bytes_incr "$(du -sb "$repo" | cut -f1)"
    measure restic restore_one "$restic -q -r '$repo' restore latest --target '$rt' --include '$src/$ONE'"
    rt=$WORK/restore-all; mkdir -p "$rt"
    measure restic restore_all "$restic -q -r '$repo' restore latest --target '$rt'"
    value restic restored_files "$(find "$rt" -type f \( -path '*/cur/*' -o -path '*/new/*' \) | wc -l)"
    dropcaches
    $restic -r "$repo" mount "$MNT" >> "$LOG" 2>&1 &
    MOUNT_PID=$!
    mount_ready restic "$MNT/snapshots/latest/$S"
    mount_figures restic "$MNT/snapshots/latest/$S" "$ONE" "$BIG"
    ;;
  borg)
    local borg="env BORG_BASE_DIR=$WORK/borgbase borg"
    $borg init -e none "$repo" >> "$LOG" 2>&1 || die "borg init"
    measure borg full "$borg create '$repo::full' '$src'"
    value borg repo_bytes_full "$(du -sb "$repo" | cut -f1)"
    measure borg nochange "$borg create '$repo::nochange' '$src'"
    add_mail
    measure borg incr "$borg create '$repo::incr' '$src'"
    value borg repo_bytes_incr "$(du -sb "$repo" | cut -f1)"
    measure borg restore_one "cd '$rt' && $borg extract '$repo::incr' '$S/$ONE'"
    rt=$WORK/restore-all; mkdir -p "$rt"
    measure borg restore_all "cd '$rt' && $borg extract '$repo::incr'"
    value borg restored_files "$(find "$rt" -type f \( -path '*/cur/*' -o -path '*/new/*' \) | wc -l)"
    dropcaches
    $borg mount -f "$repo::incr" "$MNT" >> "$LOG" 2>&1 &
    MOUNT_PID=$!
    mount_ready borg "$MNT/$S"
    mount_figures borg "$MNT/$S" "$ONE" "$BIG"
    ;;
  esac
  value "$tool" drop_caches "$DROPPED"
  stop_mount
  discard "$WORK"
}

# add_mail: +1 % new deliveries into the work copy (not timed)
add_mail() {
  "$BIN/mkstore" --out "$WORK/store" --add "$ADD_N" --seed "$ROUND" > /dev/null 2>> "$LOG" || die "mkstore --add failed"
}

{ echo "# $(date -u +%FT%TZ) $(uname -sr), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM"
  echo "# mailvault $(cd "$ROOT" && git describe --always --dirty 2>/dev/null)"
  for t in $TOOLS; do case $t in
    restic) restic version ;; borg) borg --version ;; tarzstd) zstd --version; tar --version | head -1 ;;
  esac; done
} > "$RESULTS/env.txt" 2>&1

for size in $SIZES; do
  TAG=store-$size
  STORE=$BENCH_DIR/$TAG/vmail
  if [ ! -f "$BENCH_DIR/$TAG/done" ]; then
    echo "building $TAG (once)"
    rm -rf "${BENCH_DIR:?}/$TAG"; mkdir -p "$BENCH_DIR/$TAG"
    "$BIN/mkstore" --out "$STORE" --users $(( (size + 499) / 500 )) --messages "$size" --seed 1 > "$BENCH_DIR/$TAG/mkstore.txt" || die "mkstore failed"
    touch "$BENCH_DIR/$TAG/done"
  fi
  WORK=$BENCH_DIR/work/$TAG
  MNT=$BENCH_DIR/mnt
  NMSG=$(find "$STORE" -type f \( -path '*/cur/*' -o -path '*/new/*' \) | wc -l)
  ADD_N=$(( NMSG / 100 ))
  # one user: the one with the most bytes; largest folder: the cur/ with most files
  ONE=$(cd "$STORE" && du -sb */* | sort -k1,1nr | head -1 | cut -f2)     # domain/local
  ONE_USER="${ONE#*/}@${ONE%%/*}"
  BIG=$(cd "$STORE" && find . -type d -name cur -printf '%P\n' | while read -r d; do
          echo "$(ls -f "$d" | wc -l) $d"; done | sort -k1,1nr | head -1 | cut -d' ' -f2-)
  # the same folder in the mount: <user>/<folder path>/cur; .A.B is A/B
  dir=${BIG#*/*/Maildir/}; dir=${dir%cur}; dir=${dir%/}
  user_big="${BIG#*/}"; user_big="${user_big%%/*}@${BIG%%/*}"
  if [ -z "$dir" ] || [ "$dir" = cur ]; then folder=INBOX; else folder=${dir#.}; folder=${folder//./\/}; fi
  BIG_MV=$user_big/$folder/cur
  echo "$TAG: $NMSG message files, +1 % = $ADD_N, one user $ONE_USER, largest folder $BIG"
  for ROUND in $(seq 1 "$ROUNDS"); do
    for tool in $TOOLS; do run_tool "$tool"; done
  done
done
(cd "$ROOT" && go run ./internal/tools/benchtable "$CSV") | tee "$RESULTS/table.md"
echo "results in $RESULTS"
