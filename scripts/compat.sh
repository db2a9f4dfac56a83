#!/bin/sh
# Refresh docs/compatibility.md: run the client tests (Docker, containerd, containerd's CRI plugin
# over gRPC, Podman drive runc and moat through the same operations), then render the matrix they
# recorded in build/compat/.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh test
npx tsc -p tsconfig.json
export MOAT_NATIVE_DIR="$PWD/build/native"
rm -rf build/compat
status=0
node --test --test-concurrency=1 build/ts/test/clients/*.test.js || status=$?
node scripts/compat-table.mjs
exit "$status"
