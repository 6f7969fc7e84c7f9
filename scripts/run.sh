#!/usr/bin/env bash
# Quick start 1: install what is missing, build, and run berthd in the foreground with the
# defaults (socket /run/berth/berth.sock, data /var/lib/berth). Extra arguments go to berthd.
# Then: DOCKER_HOST=unix:///run/berth/berth.sock docker version
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/scripts/setup.sh"
bash "$top/scripts/build.sh" "$top/build" -DBERTH_BENCH=OFF
exec "$top/build/berthd" "$@"
