# Shared by the end-to-end benchmarks (sourced): a berthd of the given build on a temporary
# socket and data root, removed on exit, and a busybox image imported into it (no registry).
#   bench_start BUILD_DIR [berthd args...]   sets $tmp, $sock, $pid, the docker=(...) array
#   bench_import_busybox                     imports busybox:latest from /bin/busybox
bench_start() {
  local build=$1
  shift
  tmp=$(mktemp -d)
  trap bench_cleanup EXIT
  sock=$tmp/berth.sock
  docker=(docker -H "unix://$sock")
  echo '{}' >"$tmp/daemon.json"
  "$build/berthd" -H "unix://$sock" --data-root "$tmp/data" --exec-root "$tmp/exec" \
    --pidfile "$tmp/berthd.pid" --config-file "$tmp/daemon.json" --group root "$@" \
    >"$tmp/berthd.log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do
    curl -fs --unix-socket "$sock" http://d/_ping >/dev/null 2>&1 && break
    sleep 0.05
  done
}

bench_cleanup() {
  if [ -n "${pid:-}" ]; then
    # the containers go first, so that no process, cgroup or mount outlives the benchmark
    curl -s --unix-socket "$sock" 'http://d/containers/json?all=1' 2>/dev/null |
      python3 -c 'import json,sys; print("\n".join(c["Id"] for c in json.load(sys.stdin)))' \
        2>/dev/null | xargs -r -n 20 "${docker[@]}" rm -f >/dev/null 2>&1 || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}

bench_import_busybox() {
  local root=$tmp/rootfs
  mkdir -p "$root/bin" "$root/etc" "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  chroot "$root" /bin/busybox --install -s /bin
  tar -C "$root" -c . | "${docker[@]}" import - busybox:latest >/dev/null
}
