#!/usr/bin/env bash
# Installs what `make lab` and `make test` need on a fresh Debian 12 machine with Node 20, as root.
# Safe to run any number of times: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
  echo "setup: Twill programs network namespaces and nftables; run as root (sudo make …)." >&2
  exit 1
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))." >&2
  exit 1
fi

# Debian packages: kernel tools, the lab's etcd, the reference CNI plugins (chain tests and the
# benchmark baseline), iperf3 (lab bench), conntrack (diagnostics and flow tests), chromium (the web
# UI's browser test), tcpdump (the encryption test captures the underlay), wireguard-tools (`wg show`).
pkgs=(iproute2 iputils-ping nftables iptables etcd-server etcd-client containernetworking-plugins iperf3 conntrack util-linux procps kmod chromium tcpdump wireguard-tools)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The etcd-server package may start a system etcd; Twill's lab runs its own.
  if command -v systemctl >/dev/null && systemctl is-active --quiet etcd 2>/dev/null; then
    systemctl disable --now etcd >/dev/null 2>&1 || true
  fi
fi

# npm packages, reinstalled only when package-lock.json changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

mkdir -p /run/twill

# wireguard-go for `encryption: wireguard` on kernels without the module (this one): built once
# from its Go module into the externals cache (~1 min), then reused. Without Go, encryption tests
# say what is missing.
if command -v go >/dev/null && ! ls /var/cache/twill/externals/wireguard-go-*/wireguard-go >/dev/null 2>&1; then
  ./scripts/externals/build.sh wireguard-go >/dev/null
fi
