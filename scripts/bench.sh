#!/bin/sh
# Benchmarks against the peer runtime on this machine, in one run (see bench/).
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh bench
rm -rf build/ts
npx tsc -p tsconfig.json
# `sh scripts/bench.sh vm` times the vm platform's start-up against a bare QEMU boot instead.
if [ "${1:-}" = vm ]; then exec node build/ts/bench/vm-start.js; fi
# `sh scripts/bench.sh vm-rootfs`: the same start-up with the Debian apps rootfs (≈ 0.5 GB) against
# the busybox bundle, and where the time goes (the rootfs image build) (bench/vm-rootfs.ts).
if [ "${1:-}" = vm-rootfs ]; then exec node build/ts/bench/vm-rootfs.js; fi
# `sh scripts/bench.sh vm-net`: TCP ping-pong and bulk between a vm container and a peer namespace,
# against two runc containers (bench/vm-net.ts).
if [ "${1:-}" = vm-net ]; then MOAT_NATIVE_DIR="$PWD/build/native" exec node build/ts/bench/vm-net.js; fi
# `sh scripts/bench.sh sentry`: the sentry's syscall cost and `do` start-up against gVisor's runsc
# (Debian's package, installed when missing) on its ptrace platform, and native.
if [ "${1:-}" = sentry ]; then
  sh scripts/ensure-packages.sh "moat bench" runsc
  exec node build/ts/bench/sentry.js
fi
# `sh scripts/bench.sh soak`: 200 sentry containers 20 at a time and 50 vm containers 5 at a time,
# then a search for anything left (bench/results/soak.md). Long on 2 cores: SOAK=sentry|vm for one half.
if [ "${1:-}" = soak ]; then exec node build/ts/bench/soak.js; fi
# `sh scripts/bench.sh cli`: each lifecycle command, a 200-container soak 50 at a time and `docker run
# --rm` against runc, wall and CPU time (bench/cli.ts, bench/results/cli.md; docs/cli-speed.md).
if [ "${1:-}" = cli ]; then exec node build/ts/bench/cli.js; fi
# `sh scripts/bench.sh net`: TCP ping-pong and bulk over loopback and redis-benchmark inside one
# sandbox, the sentry against runsc on its ptrace platform, and native (bench/net.ts).
if [ "${1:-}" = net ]; then
  sh scripts/ensure-packages.sh "moat bench" runsc mmdebstrap
  MOAT_NATIVE_DIR="$PWD/build/native" exec node build/ts/bench/net.js
fi
# `sh scripts/bench.sh vm-pod`: a second container in a vm pod against the first (CRI, moat's shim).
if [ "${1:-}" = vm-pod ]; then MOAT_NATIVE_DIR="$PWD/build/native" exec node build/ts/bench/vm-pod.js; fi
# `sh scripts/bench.sh shim`: moat's containerd shim (native, sentry, vm) against the runc shim + runc:
# `ctr run --rm`, the CRI pod lifecycle and a pod's second container (bench/shim.ts).
if [ "${1:-}" = shim ]; then MOAT_NATIVE_DIR="$PWD/build/native" exec node build/ts/bench/shim.js; fi
# `sh scripts/bench.sh sdk`: the SDK's create → first byte and a Python run through a warm pool, per
# isolation, against docker run --rm (its own dockerd) and runsc do (bench/sdk.ts).
if [ "${1:-}" = sdk ]; then
  sh scripts/ensure-packages.sh "moat bench" runsc
  MOAT_NATIVE_DIR="$PWD/build/native" exec node build/ts/bench/sdk.js
fi
# `sh scripts/bench.sh apps`: python3, gcc, node and git from the Debian apps rootfs under the sentry
# against runsc on its ptrace platform (bench/apps.ts; BENCH_MOAT_BASE=<moat CLI> adds another build).
if [ "${1:-}" = apps ]; then
  sh scripts/ensure-packages.sh "moat bench" runsc mmdebstrap
  MOAT_NATIVE_DIR="$PWD/build/native" exec node build/ts/bench/apps.js
fi
exec node build/ts/bench/run-true.js
