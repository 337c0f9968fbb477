#!/usr/bin/env bash
# demo: the main job end to end on a local repository. Builds a small Dovecot
# store from the public corpus, backs it up, mounts the backup, lists a
# folder, reads a message with mblaze, and unmounts.
set -euo pipefail
demo=${1:-/tmp/mailvault-demo}
bin=$(cd "$(dirname "$0")/.." && pwd)/bin/mailvault
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

for tool in doveadm fusermount3 mlist npm; do
  command -v "$tool" >/dev/null || {
    echo "demo: $tool is missing; install it: apt-get install -y fuse3 dovecot-core dovecot-imapd mblaze npm" >&2
    exit 1
  }
done

mnt=$demo/mnt
if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -u "$mnt" || fusermount3 -uz "$mnt"; fi
rm -rf "$demo"
mkdir -p "$demo" "$mnt"

step() { printf '\n== %s\n' "$*"; }

step "build a Dovecot store from the public corpus (fetched once, checksum pinned)"
go run ./internal/tools/mkstore --out "$demo/vmail" --users 6 --messages 600 --seed 1

cat > "$demo/groups.conf" <<'GROUPS'
# NAME=REGEX, first match wins; the rest is in group "user"
staff=.*@example\.org
GROUPS

step "back it up"
"$bin" backup --repo "$demo/repo" --server mail1 --groups "$demo/groups.conf" "maildir:$demo/vmail/%d/%n/Maildir"

step "the repository"
"$bin" snapshots --repo "$demo/repo"
"$bin" ls --repo "$demo/repo" /mail1

step "mount it"
"$bin" mount --repo "$demo/repo" "$mnt" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do mountpoint -q "$mnt" && break; sleep 0.1; done
mountpoint -q "$mnt" || { echo "demo: the mount did not come up" >&2; exit 1; }

user=$(ls "$mnt/mail1/staff" | sed -n 1p)
step "ls $mnt/mail1/staff/$user"
ls "$mnt/mail1/staff/$user"
step "mlist $mnt/mail1/staff/$user/INBOX | mscan"
mlist "$mnt/mail1/staff/$user/INBOX" | mscan 2>/dev/null | sed -n 1,5p
first=$(mlist "$mnt/mail1/staff/$user/INBOX" | sed -n 1p)
step "read the first message: $first"
mshow -q -h from:subject:date "$first"
step "restore it by copying: cp -p $first $demo/restored/"
mkdir -p "$demo/restored"
cp -p "$first" "$demo/restored/"
cmp "$first" "$demo/restored/$(basename "$first")" && ls -l "$demo/restored"
step "mailvault ls /mail1/staff/$user"
"$bin" ls --repo "$demo/repo" "/mail1/staff/$user"

step "unmount"
kill -TERM $pid
wait $pid
trap - EXIT
echo "demo done: repository $demo/repo"
