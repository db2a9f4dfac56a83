#!/bin/sh
# The README's second command: set up (with test dependencies), type-check and compile the tests,
# then run unit tests (no root needed) and integration tests (real containers; root).
set -eu
cd "$(dirname "$0")/.."
s0=$(date +%s)
sh scripts/setup.sh test
rm -rf build/ts
npx tsc -p tsconfig.json
export MOAT_NATIVE_DIR="$PWD/build/native"
# The executor on its own: plans fed by hand, including broken ones and a killed executor (~1 s).
node native/test/smoke.mjs
# One file at a time: integration tests start real containers and check the host for leaks.
# A test with no timeout of its own fails after 10 minutes; a file's process exits when its tests are
# done even if something it started lingers (--test-force-exit); and the whole run is bounded
# (MOAT_TEST_LIMIT, default 50 minutes, well inside CI's 90 with set-up), so a hang fails by name
# instead of running out CI's clock.
limit="${MOAT_TEST_LIMIT:-50m}"
t0=$(date +%s)
echo "moat test: set-up took $(( t0 - s0 )) s; running the suites (limit $limit)" >&2
status=0
timeout --kill-after=60s "$limit" node --test --test-concurrency=1 --test-force-exit --test-timeout=600000 build/ts/test/unit/*.test.js build/ts/test/integration/*.test.js build/ts/test/sentry/*.test.js build/ts/test/security/*.test.js build/ts/test/clients/*.test.js build/ts/test/apps/*.test.js build/ts/test/sdk/*.test.js || status=$?
echo "moat test: suites took $(( $(date +%s) - t0 )) s, exit $status" >&2
[ "$status" != 124 ] || echo "moat test: the suites did not finish within $limit (killed)" >&2
exit "$status"
