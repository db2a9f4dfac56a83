#!/bin/sh
# The real-application suite's root filesystem (test/apps): Debian bookworm made by mmdebstrap
# from Debian packages only, cached outside the repository under a name that hashes the package
# list, so a changed list builds a new one. Built into a temporary directory and renamed into
# place, so an interrupted build never leaves a half cache. Prints the rootfs path on stdout.
#   sh scripts/apps-rootfs.sh            (MOAT_APPS_CACHE overrides /var/cache/moat)
set -eu
cd "$(dirname "$0")/.."
cache="${MOAT_APPS_CACHE:-/var/cache/moat}"
pkgs="python3 nodejs perl ruby nginx-light redis-server redis-tools git gcc libc6-dev sqlite3 curl iproute2 procps busybox"
hash=$(printf 'bookworm variant=apt %s\n' "$pkgs" | sha256sum | cut -c1-16)
dest="$cache/rootfs-apps-$hash"
if [ -d "$dest" ]; then
  echo "$dest"
  exit 0
fi
sh scripts/ensure-packages.sh "moat apps" mmdebstrap
mkdir -p "$cache"
# One build at a time (the test and the doc script may ask together); the second waits and reuses.
exec 9>"$cache/.rootfs-apps.lock"
flock 9
if [ -d "$dest" ]; then
  echo "$dest"
  exit 0
fi
rm -rf "$cache"/.rootfs-apps-build.*
tmp=$(mktemp -d "$cache/.rootfs-apps-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
printf 'moat apps: building the Debian rootfs for the real-application suite in %s (first use only; a few minutes)\n' "$dest" >&2
inc=$(echo "$pkgs" | tr ' ' ',')
mmdebstrap --quiet --variant=apt --mode=root --include="$inc" \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  bookworm "$tmp/rootfs" http://deb.debian.org/debian >&2
mv "$tmp/rootfs" "$dest"
echo "$dest"
