#!/usr/bin/env bash
# Benchmark: `docker stats` on berthd with 100 running `sleep` containers (busybox rootfs imported
# with `docker import`, no registry needed). Needs root. Prints:
#   - GET /containers/{id}/stats?stream=0&one-shot=1 (one sample at once): median and p95 over
#     REQUESTS requests, one client on a keep-alive connection, round robin over the containers;
#   - GET /containers/{id}/stats?stream=0 (two samples a second apart, as moby): median and p95
#     over REQUESTS requests by 20 parallel clients;
#   - `docker stats --no-stream` of all 100 containers (one CLI process): median of 3.
# Usage: bench/stats.sh [BUILD_DIR] [REQUESTS] [EXEC_DRIVER]
#   REQUESTS: per kind (default 200); EXEC_DRIVER: native (default) or oci (runc).
# Builds nothing; run scripts/build.sh first.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$top/build"}
requests=${2:-200}
exec_driver=${3:-native}
. "$top/bench/lib.sh"
bench_start "$build" -e "$exec_driver"
bench_import_busybox

PYTHONPATH="$top/bench" python3 - "$sock" "$requests" "${docker[*]}" <<'PY'
import statistics, subprocess, sys, threading, time
from benchlib import Conn, call, pct
from benchlib import report as report_ms

def report(name, xs):
    report_ms(name, xs, 2)

sock, requests, docker = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()

c = Conn(sock)
n = 100
ids = []
for _ in range(n):
    cid = call(c, "POST", "/containers/create",
               {"Image": "busybox", "Cmd": ["sleep", "1000"],
                "HostConfig": {"NetworkMode": "none"}})["Id"]
    call(c, "POST", f"/containers/{cid}/start")
    ids.append(cid)
time.sleep(1)

def stats(conn, cid, query):
    o = call(conn, "GET", f"/containers/{cid}/stats?{query}")
    assert o["id"] == cid and o["read"] != "0001-01-01T00:00:00Z", o
    return o

for cid in ids[:10]:  # warm up
    stats(c, cid, "stream=0&one-shot=1")
one_shot = []
for i in range(requests):
    t = time.perf_counter()
    stats(c, ids[i % n], "stream=0&one-shot=1")
    one_shot.append((time.perf_counter() - t) * 1000)
report(f"stats one-shot (stream=0&one-shot=1), {n} running containers", one_shot)

workers = 20
two = []
lock = threading.Lock()
errors = []
def worker(k):
    wc = Conn(sock)
    try:
        for i in range(k, requests, workers):
            t = time.perf_counter()
            stats(wc, ids[i % n], "stream=0")
            with lock:
                two.append((time.perf_counter() - t) * 1000)
    except Exception as e:
        errors.append(e)
ts = [threading.Thread(target=worker, args=(k,)) for k in range(workers)]
for x in ts: x.start()
for x in ts: x.join()
if errors:
    raise errors[0]
report(f"stats two samples (stream=0), {workers} parallel clients", two)

cli = []
for _ in range(3):
    t = time.perf_counter()
    out = subprocess.run(docker + ["stats", "--no-stream", "--format", "{{.ID}}"], check=True,
                         capture_output=True, text=True).stdout
    cli.append((time.perf_counter() - t) * 1000)
    assert len(out.split()) == n, out
print(f"docker stats --no-stream ({n} containers, CLI process): "
      f"median {statistics.median(cli):.0f} ms")
for cid in ids:
    call(c, "DELETE", f"/containers/{cid}?force=1")
PY
