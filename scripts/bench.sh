#!/bin/sh
# Benchmarks against the peer runtime on this machine, in one run (see bench/).
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh bench
rm -rf build/ts
npx tsc -p tsconfig.json
exec node build/ts/bench/run-true.js
