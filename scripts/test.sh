#!/bin/sh
# The README's second command: set up (with test dependencies), type-check and compile the tests,
# then run unit tests (no root needed) and integration tests (real containers; root).
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh test
rm -rf build/ts
npx tsc -p tsconfig.json
export MOAT_NATIVE_DIR="$PWD/build/native"
# The executor on its own: plans fed by hand, including broken ones and a killed executor (~1 s).
node native/test/smoke.mjs
# One file at a time: integration tests start real containers and check the host for leaks.
exec node --test --test-concurrency=1 build/ts/test/unit/*.test.js build/ts/test/integration/*.test.js build/ts/test/sentry/*.test.js build/ts/test/security/*.test.js build/ts/test/clients/*.test.js build/ts/test/apps/*.test.js build/ts/test/sdk/*.test.js
