#!/bin/sh
# Install the named Debian packages that are not installed yet (apt-get update once, quietly).
#   sh scripts/ensure-packages.sh WHO PKG...     (WHO prefixes the message: "moat setup", …)
set -eu
who=$1
shift
missing=""
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
printf '%s: installing Debian packages:%s\n' "$who" "$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
