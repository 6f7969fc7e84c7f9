# Shared by the bench scripts (sourced): a berthd of BUILD on a temp socket and data root, and
# the busybox image imported from the host's busybox (no registry needed).
# start_berthd BUILD TMP [berthd args...]: sets $pid, $sock and the docker=(...) command; the
# caller's EXIT trap kills $pid.
start_berthd() {
  local build=$1 dir=$2
  shift 2
  sock=$dir/berth.sock
  echo '{}' >"$dir/daemon.json"
  "$build/berthd" -H "unix://$sock" --data-root "$dir/data" --exec-root "$dir/exec" \
    --pidfile "$dir/berthd.pid" --config-file "$dir/daemon.json" --group root "$@" \
    >"$dir/berthd.log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do
    curl -fs --unix-socket "$sock" http://d/_ping >/dev/null 2>&1 && break
    sleep 0.05
  done
  docker=(docker -H "unix://$sock")
}

# import_busybox TMP: busybox:latest from a rootfs of the host's busybox.
import_busybox() {
  local root=$1/rootfs
  mkdir -p "$root/bin" "$root/etc" "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  chroot "$root" /bin/busybox --install -s /bin
  tar -C "$root" -c . | "${docker[@]}" import - busybox:latest >/dev/null
}
