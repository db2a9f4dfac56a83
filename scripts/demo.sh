#!/bin/sh
# The README's first command: set up, then run a command sandboxed with `moat do` over a read-only
# view of this machine, with no bundle of yours needed.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh run
echo '$ bin/moat do -- sh -c "..."' >&2
bin/moat do -- sh -c '
  echo "hello from $(hostname), pid $$ in a new pid namespace"
  echo "processes I can see: $(ls /proc | grep -c "^[0-9]")"
  echo sandboxed > /etc/moat-was-here && echo "wrote /etc/moat-was-here (in-memory layer)"
  echo "network interfaces: $(ls /sys/class/net | tr "\n" " ")"
'
if [ -e /etc/moat-was-here ]; then echo "demo: FAILED, the host's /etc was written" >&2; exit 1; fi
echo "back on the host: /etc/moat-was-here does not exist — the write stayed in the sandbox" >&2
