#!/usr/bin/env bash
# Makes sure the Debian tools the tests, benchmarks and demo use are installed: PostgreSQL 15 (server and
# client binaries), zstd, age, rclone, awscli v2 and the Prometheus Pushgateway. Installs what is missing when run as root with
# apt-get; otherwise prints exactly what to install and fails.
set -euo pipefail
# `ensure-tools.sh demo` asks only for what the demo runs (PostgreSQL); no argument: everything.
if [ "${1:-}" = demo ]; then pkgs=(postgresql-15 postgresql-client-15); else pkgs=(postgresql-15 postgresql-client-15 zstd age rclone awscli prometheus-pushgateway); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "ensure-tools: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "ensure-tools: missing Debian packages: ${missing[*]}" >&2
  echo "  install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
