#!/usr/bin/env bash
# Benchmark: container lifecycle on berthd, against a busybox rootfs imported with `docker import`
# (no registry needed), network mode none. Needs root. Prints:
#   - create+start+wait+delete over the raw API (one client, keep-alive): median and p95 of
#     each phase and of the total;
#   - `docker run --rm busybox true` as a whole CLI process: median and p95;
#   - 200 lifecycles by 20 parallel clients: wall time and containers per second;
#   - berthd's memory per running container: PSS growth over 100 `sleep` containers;
#   - the logs of a container that printed 100,000 lines: GET /containers/{id}/logs, median of 5.
# Usage: bench/containers.sh [BUILD_DIR] [RUNS] [EXEC_DRIVER]
#   RUNS: sequential lifecycles (default 50); EXEC_DRIVER: native (default) or oci (runc).
# Builds nothing; run scripts/build.sh first.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$top/build"}
runs=${2:-50}
exec_driver=${3:-native}
. "$top/bench/lib.sh"
bench_start "$build" -e "$exec_driver"
bench_import_busybox

PYTHONPATH="$top/bench" python3 - "$sock" "$runs" "$pid" "${docker[*]}" <<'PY'
import subprocess, sys, threading, time
from benchlib import Conn, call, report

sock, runs, pid, docker = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split()

PHASES = ("create", "start", "wait", "delete")

def lifecycle(c, cmd=("true",), times=None):
    marks = [time.perf_counter()]
    cid = call(c, "POST", "/containers/create",
               {"Image": "busybox", "Cmd": list(cmd), "HostConfig": {"NetworkMode": "none"}})["Id"]
    marks.append(time.perf_counter())
    call(c, "POST", f"/containers/{cid}/start")
    marks.append(time.perf_counter())
    code = call(c, "POST", f"/containers/{cid}/wait")["StatusCode"]
    marks.append(time.perf_counter())
    call(c, "DELETE", f"/containers/{cid}")
    marks.append(time.perf_counter())
    assert code == 0, code
    if times is not None:
        for i, name in enumerate(PHASES):
            times.setdefault(name, []).append((marks[i + 1] - marks[i]) * 1000)

c = Conn(sock)
lifecycle(c)  # warm up
api, phases = [], {}
for _ in range(runs):
    t = time.perf_counter()
    lifecycle(c, times=phases)
    api.append((time.perf_counter() - t) * 1000)
for name in PHASES:
    report(f"  {name}", phases[name])
report("API create+start+wait+delete", api)

cli = []
for _ in range(max(10, runs // 2)):
    t = time.perf_counter()
    subprocess.run(docker + ["run", "--rm", "busybox", "true"], check=True)
    cli.append((time.perf_counter() - t) * 1000)
report("docker run --rm busybox true (CLI process)", cli)

total, workers = 200, 20
errors = []
def worker(n):
    wc = Conn(sock)
    try:
        for _ in range(n):
            lifecycle(wc)
    except Exception as e:
        errors.append(e)
t = time.perf_counter()
ts = [threading.Thread(target=worker, args=(total // workers,)) for _ in range(workers)]
for x in ts: x.start()
for x in ts: x.join()
wall = time.perf_counter() - t
if errors:
    raise errors[0]
print(f"{total} lifecycles by {workers} parallel clients: {wall:.2f} s, {total / wall:.0f} containers/s")

def pss_kib():
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0

n = 100
time.sleep(0.5)
before = pss_kib()
ids = []
for _ in range(n):
    cid = call(c, "POST", "/containers/create", {"Image": "busybox", "Cmd": ["sleep", "1000"]})["Id"]
    call(c, "POST", f"/containers/{cid}/start")
    ids.append(cid)
time.sleep(1)
after = pss_kib()
print(f"berthd PSS: {before} KiB idle, {after} KiB with {n} running containers: "
      f"{(after - before) / n:.0f} KiB per container")
for cid in ids:
    call(c, "DELETE", f"/containers/{cid}?force=1")

lines = 100000
cid = call(c, "POST", "/containers/create",
           {"Image": "busybox", "Cmd": ["sh", "-c", f"seq 1 {lines}"],
            "HostConfig": {"NetworkMode": "none"}})["Id"]
call(c, "POST", f"/containers/{cid}/start")
call(c, "POST", f"/containers/{cid}/wait")
fetch = []
for _ in range(5):
    t = time.perf_counter()
    c.request("GET", f"/v1.41/containers/{cid}/logs?stdout=1&stderr=1")
    body = c.getresponse().read()
    fetch.append((time.perf_counter() - t) * 1000)
assert len(body) == 8 * lines + sum(len(str(i)) + 1 for i in range(1, lines + 1)), len(body)
report(f"logs of {lines} lines ({len(body)} bytes framed)", fetch)
call(c, "DELETE", f"/containers/{cid}")
PY
