#!/usr/bin/env bash
# Makes sure the Debian packages for the throwaway Ceph RGW test harness (test/support/rgw.ts) are installed:
# radosgw, ceph-mon and ceph-osd (Debian bookworm ships Ceph 16.2 "Pacific"). Installs what is missing when
# run as root with apt-get; otherwise prints exactly what to install and fails. Fast no-op when all are there.
set -euo pipefail
pkgs=(radosgw ceph-mon ceph-osd)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "ensure-rgw: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "ensure-rgw: missing Debian packages: ${missing[*]}" >&2
  echo "  install them with: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
