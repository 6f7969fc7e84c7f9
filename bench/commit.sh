#!/usr/bin/env bash
# Benchmark: docker commit and docker push on berthd. Needs root. Prints median and p95 of:
#   - POST /commit of a stopped container that changed nothing (an empty layer);
#   - POST /commit of a stopped container that wrote 1000 small files and a 10 MiB file;
#   - the same commit of a running container (frozen for the commit, as by default);
#   - `docker push` of a committed image to the fixture registry on loopback (a new tag each
#     run: the blobs are there after the first push, so this is the HEAD-and-manifest path),
#     and the first push of the 10 MiB layer.
# Usage: bench/commit.sh [BUILD_DIR] [RUNS]   (RUNS default 20)
# Builds nothing; run scripts/build.sh first. The push part starts the fixture registries
# (tests/fixtures/images.sh) and stops them at the end.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$top/build"}
runs=${2:-20}
. "$top/bench/lib.sh"
bench_start "$build"
bench_import_busybox
fx=$tmp/fx
bash "$top/tests/fixtures/images.sh" start "$fx" >/dev/null
trap 'bash "$top/tests/fixtures/images.sh" stop "$fx" >/dev/null 2>&1; bench_cleanup' EXIT
. "$fx/env"
d() { "${docker[@]}" "$@"; }
d run --name quiet --network none busybox true
d run --name busy --network none busybox sh -c \
  'mkdir /many && for i in $(seq 1000); do echo $i > /many/$i; done; head -c 10485760 /dev/urandom > /big'
d commit busy "$REGISTRY/committed:first" >/dev/null
d run -d --name running --network none busybox sh -c \
  'mkdir /many && for i in $(seq 1000); do echo $i > /many/$i; done; head -c 10485760 /dev/urandom > /big; sleep 100000' >/dev/null
sleep 1

PYTHONPATH="$top/bench" python3 - "$sock" "$runs" "$REGISTRY" "${docker[*]}" <<'PY'
import subprocess, sys, time
from benchlib import Conn, call, report

sock, runs, registry, docker = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split()
c = Conn(sock)
for name, container in (("commit, no change (empty layer)", "quiet"),
                        ("commit, 1000 files + 10 MiB", "busy"),
                        ("commit of a running container, 1000 files + 10 MiB", "running")):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        call(c, "POST", f"/commit?container={container}")
        times.append((time.perf_counter() - t) * 1000)
    report(name, times)

t = time.perf_counter()
subprocess.run(docker + ["push", "-q", f"{registry}/committed:first"], check=True,
               stdout=subprocess.DEVNULL)
print(f"first push of the 10 MiB layer (whole CLI): {(time.perf_counter() - t) * 1000:.1f} ms")
times = []
for i in range(runs):
    subprocess.run(docker + ["tag", f"{registry}/committed:first", f"{registry}/committed:t{i}"],
                   check=True)
    t = time.perf_counter()
    subprocess.run(docker + ["push", "-q", f"{registry}/committed:t{i}"], check=True,
                   stdout=subprocess.DEVNULL)
    times.append((time.perf_counter() - t) * 1000)
report("push of a tag whose blobs are there (whole CLI)", times)
PY
