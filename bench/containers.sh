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
tmp=$(mktemp -d)
cleanup() {
  if [ -n "${pid:-}" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
. "$top/bench/lib.sh"
start_berthd "$build" "$tmp" -e "$exec_driver"
import_busybox "$tmp"

python3 - "$sock" "$runs" "$pid" "${docker[*]}" <<'PY'
import http.client, json, socket, statistics, subprocess, sys, threading, time

sock, runs, pid, docker = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split()

class Conn(http.client.HTTPConnection):
    def __init__(self):
        super().__init__("localhost")
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sock)

def call(c, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    c.request(method, "/v1.41" + path, body=data,
              headers={"Content-Type": "application/json"} if data else {})
    r = c.getresponse()
    out = r.read()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {out!r}")
    return json.loads(out) if out else None

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

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]

def report(name, xs):
    print(f"{name}: median {statistics.median(xs):.1f} ms, p95 {pct(xs, 95):.1f} ms (n={len(xs)})")

c = Conn()
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
    wc = Conn()
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
