#!/usr/bin/env bash
# Benchmark: mounts on berthd (busybox imported with `docker import`, network mode none). Prints
# medians and p95 over the raw API (one keep-alive client) of:
#   - create+start+wait+delete with no mount, with a named volume, with a bind, with a tmpfs,
#     and with an anonymous volume removed with the container (rm -v);
#   - volume create+delete;
#   - system df with 100 volumes.
# Usage: bench/volumes.sh [BUILD_DIR] [RUNS]   (root; builds nothing)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$top/build"}
runs=${2:-50}
. "$top/bench/lib.sh"
bench_start "$build"
bench_import_busybox
mkdir -p "$tmp/bind"

PYTHONPATH="$top/bench" python3 - "$sock" "$runs" "$tmp/bind" <<'PY'
import sys, time
from benchlib import Conn, call, report

sock, runs, bind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = Conn(sock)

def lifecycle(host, rm_v=False):
    hc = {"NetworkMode": "none"}
    hc.update(host)
    cid = call(c, "POST", "/containers/create",
               {"Image": "busybox", "Cmd": ["true"], "HostConfig": hc})["Id"]
    call(c, "POST", f"/containers/{cid}/start")
    assert call(c, "POST", f"/containers/{cid}/wait")["StatusCode"] == 0
    call(c, "DELETE", f"/containers/{cid}" + ("?v=1" if rm_v else ""))

cases = [
    ("no mount", {}, False),
    ("named volume (-v data:/d)", {"Binds": ["data:/d"]}, False),
    ("bind (-v /host:/h)", {"Binds": [bind + ":/h"]}, False),
    ("tmpfs (--tmpfs /t)", {"Tmpfs": {"/t": "size=1m"}}, False),
    ("anonymous volume, rm -v", {"Binds": ["/anon"]}, True),
]
base = None
for name, host, rm_v in cases:
    lifecycle(host, rm_v)  # warm up (the named volume is made here)
    xs = []
    for _ in range(runs):
        t = time.perf_counter()
        lifecycle(host, rm_v)
        xs.append((time.perf_counter() - t) * 1000)
    report(f"create+start+wait+delete, {name}", xs)

xs = []
for i in range(runs):
    t = time.perf_counter()
    call(c, "POST", "/volumes/create", {"Name": f"v{i}"})
    call(c, "DELETE", f"/volumes/v{i}")
    xs.append((time.perf_counter() - t) * 1000)
report("volume create+delete", xs, 2)

for i in range(100):
    call(c, "POST", "/volumes/create", {"Name": f"df{i}"})
xs = []
for _ in range(20):
    t = time.perf_counter()
    call(c, "GET", "/system/df")
    xs.append((time.perf_counter() - t) * 1000)
report("system df with 100 volumes", xs, 2)
PY
