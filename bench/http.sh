#!/usr/bin/env bash
# Benchmark: HTTP throughput of berthd with wrk (2 threads, 32 connections, 10 s) against a TCP
# listener on 127.0.0.1, for /_ping, /version and /info; also berthd's idle RSS. Medians of 3 runs.
# Usage: bench/http.sh [BUILD_DIR]   (builds nothing; run scripts/build.sh first)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$top/build"}
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "{}" >"$tmp/daemon.json"
"$build/berthd" -H "unix://$tmp/berth.sock" -H "tcp://127.0.0.1:$port" --data-root "$tmp/data" \
  --exec-root "$tmp/exec" --pidfile "$tmp/berthd.pid" --config-file "$tmp/daemon.json" \
  >"$tmp/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/_ping" >/dev/null && break; sleep 0.05; done
sleep 1
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
echo "berthd idle RSS: $((rss / 1024)) MiB ($rss KiB)"
for path in /_ping /v1.41/version /v1.41/info; do
  rates=()
  for _ in 1 2 3; do
    r=$(wrk -t2 -c32 -d10s "http://127.0.0.1:$port$path" | awk '/Requests\/sec/ {print $2}')
    rates+=("$r")
  done
  median=$(printf '%s\n' "${rates[@]}" | sort -n | sed -n 2p)
  echo "wrk -t2 -c32 -d10s $path: median ${median} req/s (runs: ${rates[*]})"
done
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
echo "berthd RSS after load: $((rss / 1024)) MiB ($rss KiB)"
