#!/bin/sh
# gVisor's syscall tests (google/gvisor, test/syscalls/linux) as the sentry's yardstick: build them
# as static binaries (g++ and make, no Bazel), run them in one busybox bundle under the sentry,
# runsc (ptrace, no network) and runc, and write docs/gvisor-syscall-tests.md.
#
#   GVISOR_SRC=/work/src/gvisor ABSL_SRC=/work/src/abseil-cpp sh scripts/gvisor-tests.sh [FILE…]
#
# FILE: a test file's name without .cc ("pipe", "exec_binary") or a glob ("socket_unix*"); default:
# the files of issues 18 and 11 (see DEFAULT_FILES below).
#   GVISOR_SRC=DIR     a checkout of github.com/google/gvisor (only test/ is read). Required.
#   ABSL_SRC=DIR       a checkout of github.com/abseil/abseil-cpp recent enough for those sources
#                      (Debian 12's libabsl-dev is too old). Required.
#   GVISOR_BUILD=DIR   objects, binaries, the bundle and logs (default build/gvisor-tests); kept
#                      between runs, so only what changed is rebuilt.
#   RUNTIMES=LIST      comma-separated, of sentry,runsc,runc (default all three).
#   GVISOR_CASE_TIMEOUT=S   a case silent this long is a hang (default 60).
#   GVISOR_RESULTS=FILE     per-case results (default bench/results/gvisor-syscall-tests.json); kept
#                      across runs, so files can be run in several goes and a later run diffed.
#   GVISOR_BUILD_ONLY=1     build, do not run.
#   GVISOR_COMMIT=SHA  the commit of GVISOR_SRC for the table, when it is not a git work tree
#                      (else read from GVISOR_SRC/COMMIT or git).
# Needs root (the runtimes). Not part of `npm test`: the sources cannot be fetched in CI.
set -eu
cd "$(dirname "$0")/.."
repo=$PWD

say() { printf 'gvisor-tests: %s\n' "$*" >&2; }

ISSUE18="uname pipe read write open stat dup fcntl lseek getdents mkdir unlink symlink readv fork exec
exec_binary wait exit kill sigaction sigprocmask futex mmap brk munmap clock_gettime time prctl
rlimits proc poll ppoll select epoll eventfd timerfd getrandom sysinfo sched_yield"
SOCKETS="socket_unix* socket_inet_loopback* socket_ip_tcp* socket_ip_udp* socket_netlink_route"
DEFAULT_FILES="$ISSUE18 $SOCKETS"

need_tree() { # VAR DIR MARKER URL
  if [ -z "$2" ] || [ ! -e "$2/$3" ]; then
    say "set $1 to a source tree of $4 (no $3 under '${2:-}')."
    say "the sources are not fetched by this script; e.g. git clone $4 /work/src/$(basename "$4")"
    exit 2
  fi
}
need_tree GVISOR_SRC "${GVISOR_SRC:-}" test/syscalls/linux/BUILD https://github.com/google/gvisor
need_tree ABSL_SRC "${ABSL_SRC:-}" absl/base/config.h https://github.com/abseil/abseil-cpp
gvisor=$(cd "$GVISOR_SRC" && pwd)
absl=$(cd "$ABSL_SRC" && pwd)
out=${GVISOR_BUILD:-$repo/build/gvisor-tests}
mkdir -p "$out"
out=$(cd "$out" && pwd)
results=${GVISOR_RESULTS:-$repo/bench/results/gvisor-syscall-tests.json}

# 1. Debian packages: the compiler and make, cmake (abseil), gtest/gmock (static libraries in the
#    -dev packages), libcap's headers, busybox (the bundle), runc and runsc.
sh scripts/ensure-packages.sh gvisor-tests g++ make cmake libgtest-dev libgmock-dev libcap-dev \
  busybox-static runc runsc
MOAT_SHIM_LINK=0 sh scripts/setup.sh >/dev/null   # moat itself (the host's shim link left alone)

# 2. abseil, static, built once per source tree (cmake rebuilds only what changed).
ab=$out/absl-build
if [ ! -f "$ab/.built" ] || [ -n "$(find "$absl/absl" -newer "$ab/.built" -name '*.cc' | head -1)" ]; then
  say "building abseil from $absl into $ab (once; slow)"
  mkdir -p "$ab"
  nice cmake -S "$absl" -B "$ab" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_STANDARD=17 \
    -DABSL_PROPAGATE_CXX_STD=ON -DABSL_BUILD_TESTING=OFF -DBUILD_TESTING=OFF >"$ab/cmake.log"
  nice make -C "$ab" -j"${GVISOR_JOBS:-2}" >"$ab/make.log"
  touch "$ab/.built"
fi

# 3. The test programs and their helpers.
# shellcheck disable=SC2086
set -f
files=${*:-$DEFAULT_FILES}
commit=${GVISOR_COMMIT:-}
[ -n "$commit" ] || commit=$(cat "$gvisor/COMMIT" 2>/dev/null || git -C "$gvisor" rev-parse HEAD 2>/dev/null || echo unknown)
say "building from gVisor $commit into $out"
node scripts/gvisor/build.mjs "$gvisor" "$absl" "$ab" "$out/tests" $files
set +f
[ "${GVISOR_BUILD_ONLY:-}" = 1 ] && exit 0

# 4. Run what built, program by program, under each runtime; then the table.
built=$(node -e 'const b = require(process.argv[1]); console.log(b.chosen.filter((p) => b.built.includes(p)).join(" "))' "$out/tests/build.json")
[ -n "$built" ] || { say "nothing built"; exit 1; }
start=$(date +%s)
# shellcheck disable=SC2086
node scripts/gvisor/run.mjs "$out/tests" "$results" "${RUNTIMES:-sentry,runsc,runc}" $built
say "ran in $(( $(date +%s) - start )) s"
# shellcheck disable=SC2086
node scripts/gvisor/report.mjs "$results" "$out/tests/build.json" "$commit" docs/gvisor-syscall-tests.md $ISSUE18
say "wrote docs/gvisor-syscall-tests.md"
