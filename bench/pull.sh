#!/usr/bin/env bash
# Benchmark: `docker pull` of multilayer:latest (4 layers, ~35 MB compressed) from the loopback
# fixture registry into an empty store, 5 times; prints the median wall time and the layer time
# split (download, sha256, decompress, extract) that berthd logs for each pull. Needs root (the
# fixtures and overlay2).
# Usage: bench/pull.sh [BUILD_DIR] [STORAGE_DRIVER] [DATA_PARENT]
#   DATA_PARENT: where the data root goes (default: a temp dir under /tmp; /dev/shm takes the
#   disk's file-creation cost out of the figures; "ext4-loop" makes a journaled ext4 (mkfs.ext4
#   defaults) on a loop file and removes it afterwards). Builds nothing; run scripts/build.sh first.
#   SETTLE=seconds: wait after the fixtures are up (see below).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$top/build"}
driver=${2:-overlay2}
tmp=$(mktemp -d)
data_parent=${3:-$tmp}
loop_mnt=
if [ "$data_parent" = ext4-loop ]; then
  truncate -s 4G "$tmp/ext4.img"
  mkfs.ext4 -q -F "$tmp/ext4.img"
  loop_mnt="$tmp/ext4"
  mkdir "$loop_mnt"
  mount -o loop "$tmp/ext4.img" "$loop_mnt"
  data_parent=$loop_mnt
fi
data=$(mktemp -d "$data_parent/berth-bench-data.XXXXXX")
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  bash "$top/tests/fixtures/images.sh" stop "$tmp/fx" >/dev/null 2>&1 || true
  rm -rf "$data"
  [ -n "$loop_mnt" ] && umount "$loop_mnt"
  rm -rf "$tmp"
}
trap cleanup EXIT
bash "$top/tests/fixtures/images.sh" start "$tmp/fx" >/dev/null
# shellcheck disable=SC1091
. "$tmp/fx/env"
# The fixture script has just created and deleted thousands of files. On ext4 without a journal
# the inode allocator skips inodes freed in the last 30 s (more while their table block is dirty),
# which would bill the first pull for it. SETTLE=seconds waits that out (default 0).
sync
sleep "${SETTLE:-0}"
ref="$REGISTRY/multilayer:latest"
echo "{}" >"$tmp/daemon.json"
times=()
for run in 1 2 3 4 5; do
  # A new data root per run; all are deleted at the end. Deleting one just before the next run
  # would bill that run for the filesystem's handling of 4000 just-freed inodes.
  "$build/berthd" -H "unix://$tmp/berth.sock" --data-root "$data/root.$run" --exec-root "$tmp/exec" \
    --pidfile "$tmp/berthd.pid" --config-file "$tmp/daemon.json" -s "$driver" >"$tmp/log.$run" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    curl -fs --unix-socket "$tmp/berth.sock" http://x/_ping >/dev/null && break
    sleep 0.05
  done
  start=$(date +%s%N)
  docker -H "unix://$tmp/berth.sock" pull -q "$ref" >/dev/null
  end=$(date +%s%N)
  times+=("$(((end - start) / 1000000))")
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
  grep -o 'layer time split: .*' "$tmp/log.$run" | sed "s/^/run $run: /"
done
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
echo "docker pull $ref ($driver, data under $data_parent), empty store: median ${median} ms (runs: ${times[*]} ms)"
