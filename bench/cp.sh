#!/usr/bin/env bash
# Benchmark: `docker cp` of one file into and out of a running container on berthd (busybox
# rootfs imported with `docker import`, no registry needed). Needs root. Prints the median
# (and min/max) of RUNS copies each way, in ms and MB/s, through the stock docker CLI:
#   - in:  docker cp FILE C:/tmp/      (HEAD + PUT of a chunked tar, spooled, then extracted)
#   - out: docker cp C:/tmp/FILE DIR   (GET: the tar streamed as it is read)
#   - docker export of a busybox container (the whole CLI process)
# Usage: bench/cp.sh [BUILD_DIR] [SIZE_MB] [RUNS] [STORAGE_DRIVER]
#   SIZE_MB: the file size (default 100); RUNS: default 5; STORAGE_DRIVER: overlay2 (default) or vfs.
# Builds nothing; run scripts/build.sh first.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$top/build"}
size_mb=${2:-100}
runs=${3:-5}
storage=${4:-overlay2}
. "$top/bench/lib.sh"
bench_start "$build" -s "$storage"
bench_import_busybox
"${docker[@]}" run -d --name cpbench --network none busybox sleep 100000 >/dev/null
head -c "$((size_mb * 1024 * 1024))" /dev/urandom >"$tmp/blob"
mkdir -p "$tmp/out"

python3 - "$size_mb" "$runs" "$tmp" "${docker[*]}" <<'PY'
import os, shutil, statistics, subprocess, sys, time

size_mb, runs, tmp, docker = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4].split()

def timed(args):
    t0 = time.perf_counter()
    subprocess.run(docker + args, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - t0) * 1000

def report(what, ms):
    med = statistics.median(ms)
    print(f"{what:<34} median {med:8.1f} ms  {size_mb / (med / 1000):7.1f} MB/s"
          f"  (min {min(ms):.1f}, max {max(ms):.1f}, {len(ms)} runs)")

into, out = [], []
for i in range(runs):
    into.append(timed(["cp", f"{tmp}/blob", "cpbench:/tmp/"]))
    shutil.rmtree(f"{tmp}/out", ignore_errors=True)
    os.makedirs(f"{tmp}/out")
    out.append(timed(["cp", "cpbench:/tmp/blob", f"{tmp}/out/"]))
    assert os.path.getsize(f"{tmp}/out/blob") == size_mb * 1024 * 1024
print(f"docker cp of a {size_mb} MB file, running container")
report("host -> container (cp FILE C:/tmp/)", into)
report("container -> host (cp C:/tmp/FILE .)", out)

# docker export of a busybox container (its merged tree streamed as a tar), median of RUNS
subprocess.run(docker + ["create", "--name", "exported", "busybox", "true"], check=True,
               stdout=subprocess.DEVNULL)
exports = []
for i in range(runs):
    t0 = time.perf_counter()
    tar = subprocess.run(docker + ["export", "exported"], check=True, stdout=subprocess.PIPE).stdout
    exports.append((time.perf_counter() - t0) * 1000)
print(f"docker export of busybox ({len(tar)} bytes of tar): median "
      f"{statistics.median(exports):.1f} ms (min {min(exports):.1f}, max {max(exports):.1f})")
PY
