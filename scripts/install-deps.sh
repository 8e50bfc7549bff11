#!/usr/bin/env bash
# Installs what sandnet needs to build, test and run, from Debian's packages.
# Idempotent: packages already installed are skipped, apt is not touched then.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libboost1.81-dev libboost-json1.81-dev
  libnl-3-dev libnl-route-3-dev libmnl-dev libspdlog-dev libgtest-dev
  containernetworking-plugins iproute2 iptables
  runc crun busybox-static
  socat systemd util-linux procps
  libnftables-dev nftables
  clang-16 libclang-rt-16-dev
  podman lxc uidmap
  # Debian packages (debian/, scripts/package-test.sh) and man pages
  debhelper dpkg-dev fakeroot lintian scdoc man-db groff-base
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all packages present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
