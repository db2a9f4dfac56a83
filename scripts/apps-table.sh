#!/bin/sh
# Regenerate docs/apps.md: the real-application cases (test/apps/cases.ts) under native moat,
# the sentry and runsc (installed if missing), timed. Builds the apps rootfs on first use.
#   sh scripts/apps-table.sh [native] [sentry] [runsc]    (default: all three; naming some keeps
#                                                         the others' results of the last run)
set -eu
cd "$(dirname "$0")/.."
sh scripts/ensure-packages.sh "moat apps" runsc mmdebstrap
node scripts/build.mjs >/dev/null
npx tsc -p tsconfig.json
MOAT_NATIVE_DIR="$PWD/build/native" exec node build/ts/test/apps/table.js "$@"
