#!/usr/bin/env bash
# Benchmark: the bridge network on berthd (busybox imported with `docker import`). Prints medians
# and p95 over the raw API (one keep-alive client) of create+start+wait+delete with the default
# bridge network, a user-defined network (with the embedded DNS server) and --network none (the
# bridge's added cost), then the throughput of a published port: wrk -t2 -c32 -d10s against busybox
# httpd through the userland proxy (127.0.0.1:PORT), through the NAT rule (the bridge's gateway
# address:PORT, DNAT in berth's nat chain), and straight at the container's address.
# Usage: bench/network.sh [BUILD_DIR] [RUNS]   (root; builds nothing)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$top/build"}
runs=${2:-50}
. "$top/bench/lib.sh"
bench_start "$build"
bench_import_busybox

PYTHONPATH="$top/bench" python3 - "$sock" "$runs" <<'PY'
import sys, time
from benchlib import Conn, call, report

sock, runs = sys.argv[1], int(sys.argv[2])
c = Conn(sock)

def lifecycle(mode):
    cid = call(c, "POST", "/containers/create",
               {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": mode}})["Id"]
    call(c, "POST", f"/containers/{cid}/start")
    assert call(c, "POST", f"/containers/{cid}/wait")["StatusCode"] == 0
    call(c, "DELETE", f"/containers/{cid}")

call(c, "POST", "/networks/create", {"Name": "benchnet"})
for mode in ("default", "benchnet", "none"):
    lifecycle(mode)
    xs = []
    for _ in range(runs):
        t = time.perf_counter()
        lifecycle(mode)
        xs.append((time.perf_counter() - t) * 1000)
    report(f"create+start+wait+delete, network {mode}", xs)
PY

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$tmp/www"
head -c 4096 /dev/urandom | base64 > "$tmp/www/index.html"
docker -H "unix://$sock" run -d --name web -p "$port:80" -v "$tmp/www:/www:ro" busybox \
  httpd -f -p 80 -h /www >/dev/null
ip=$(docker -H "unix://$sock" inspect -f '{{.NetworkSettings.IPAddress}}' web)
gw=$(docker -H "unix://$sock" inspect -f '{{.NetworkSettings.Gateway}}' web)
for i in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
echo "wrk -t2 -c32 -d10s, a 5.5 KB page from busybox httpd:"
echo -n "  userland proxy (127.0.0.1:$port): "
wrk -t2 -c32 -d10s "http://127.0.0.1:$port/" | awk '/Requests\/sec/ {print $2 " req/s"}'
echo -n "  NAT ($gw:$port):              "
wrk -t2 -c32 -d10s "http://$gw:$port/" | awk '/Requests\/sec/ {print $2 " req/s"}'
echo -n "  container address ($ip:80):      "
wrk -t2 -c32 -d10s "http://$ip:80/" | awk '/Requests\/sec/ {print $2 " req/s"}'
docker -H "unix://$sock" rm -f web >/dev/null
docker -H "unix://$sock" network rm benchnet >/dev/null
