#!/usr/bin/env bash
# Benchmark: docker exec on berthd, in a running busybox container (network mode none). Needs
# root. Prints median and p95 of:
#   - the API round trip of `true`: POST /containers/{id}/exec, POST /exec/{id}/start hijacked
#     (101, read to EOF), GET /exec/{id}/json for the exit code; one client;
#   - the same with `echo` of 64 KiB through the stream;
#   - `docker exec C true` as a whole CLI process.
# Usage: bench/exec.sh [BUILD_DIR] [RUNS] [EXEC_DRIVER]   (RUNS default 100; native or oci)
# Builds nothing; run scripts/build.sh first.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$top/build"}
runs=${2:-100}
exec_driver=${3:-native}
. "$top/bench/lib.sh"
bench_start "$build" -e "$exec_driver"
bench_import_busybox
cid=$("${docker[@]}" run -d --network none busybox sleep 100000)

PYTHONPATH="$top/bench" python3 - "$sock" "$runs" "$cid" "${docker[*]}" <<'PY'
import json, socket, subprocess, sys, time
from benchlib import report

sock, runs, cid, docker = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split()

def request(method, path, body=b"", upgrade=False):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    head = f"{method} /v1.41{path} HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(body)}\r\n"
    head += "Connection: Upgrade\r\nUpgrade: tcp\r\n" if upgrade else "Connection: close\r\n"
    s.sendall(head.encode() + b"\r\n" + body)
    if upgrade:
        s.shutdown(socket.SHUT_WR)  # no stdin: the CLI half-closes at once
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    status = int(out.split(b" ", 2)[1])
    return status, out.split(b"\r\n\r\n", 1)[1]

def exec_once(cmd):
    st, body = request("POST", f"/containers/{cid}/exec",
                       json.dumps({"Cmd": cmd, "AttachStdout": True, "AttachStderr": True}).encode())
    assert st == 201, body
    eid = json.loads(body)["Id"]
    st, out = request("POST", f"/exec/{eid}/start", b'{"Detach":false,"Tty":false}', upgrade=True)
    assert st == 101, out
    st, body = request("GET", f"/exec/{eid}/json")
    info = json.loads(body)
    assert st == 200 and info["ExitCode"] == 0 and not info["Running"], info
    return out

exec_once(["true"])  # warm up
for name, cmd in (("exec true (API: create, start hijacked, inspect)", ["true"]),
                  ("exec of 64 KiB output (API)", ["sh", "-c", "head -c 65536 /dev/zero"])):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        out = exec_once(cmd)
        assert len(out) >= (65536 if len(cmd) > 1 else 0), len(out)
        times.append((time.perf_counter() - t) * 1000)
    report(name, times)

cli = []
for _ in range(max(10, runs // 4)):
    t = time.perf_counter()
    subprocess.run(docker + ["exec", cid, "true"], check=True)
    cli.append((time.perf_counter() - t) * 1000)
report("docker exec C true (CLI process)", cli)
PY
