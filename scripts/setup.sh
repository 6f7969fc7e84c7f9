#!/usr/bin/env bash
# Installs every Debian package berth's build, tests, fixtures and benchmarks need.
# Idempotent; run as root on Debian 12. Used by scripts/run.sh, scripts/test.sh and .ci/run.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config git clang-format
  libcaf-dev libboost1.81-all-dev libboost-json1.81-dev libsimdjson-dev libssl-dev libsystemd-dev
  libarchive-dev zlib1g-dev libzstd-dev libnl-3-dev libnl-route-3-dev
  # the embedded DNS server's messages
  libldns-dev
  # the bridge network driver's NAT and port rules
  iptables
  # the oci exec driver's runtime
  runc
  # tests and benchmarks
  openssl curl wrk procps python3 iproute2
  # offline test images (tests/fixtures/images.sh)
  busybox-static umoci skopeo docker-registry apache2-utils
  # the Bearer token server of the fixtures (tests/fixtures/token_server.py)
  python3-jwt python3-cryptography
)

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

# The stock docker CLI drives the integration tests. Where none is installed, take Debian's
# (docker.io) but keep its own daemon off: berthd is the daemon here.
if ! command -v docker >/dev/null 2>&1; then
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null
  if command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now docker.service docker.socket containerd.service >/dev/null 2>&1 || true
  fi
fi
echo "setup: all packages installed"
