#!/bin/sh
# The OCI runtime-tools validation suite against runc, crun and moat on this machine.
#   sh scripts/conformance.sh               build (if needed), run every test with every runtime,
#                                           write docs/conformance.md
#   sh scripts/conformance.sh kill start    only these tests (results of the others are kept)
#   RUNTIMES="moat" sh scripts/conformance.sh …     only these runtimes (runc crun moat)
#   RUNTIME_TOOLS_SRC=DIR                   the upstream validation/ and cmd/runtimetest sources
#                                           (default /usr/local/src/runtime-tools; see docs/conformance.md)
#   CONFORMANCE_TIMEOUT=SECONDS             per test and runtime (default 180)
# Not part of `npm test`: it takes ~15 minutes. Needs root.
set -eu
cd "$(dirname "$0")/.."
repo=$PWD
out=$repo/build/conformance
src=${RUNTIME_TOOLS_SRC:-/usr/local/src/runtime-tools}
timeout_s=${CONFORMANCE_TIMEOUT:-180}
runtimes=${RUNTIMES:-runc crun moat}

say() { printf 'conformance: %s\n' "$*" >&2; }

# 1. Debian packages: Go, the packaged runtime-tools library and its dependencies, crun, runc,
#    busybox-static (the rootfs), util-linux (unshare, for the linux_ns_path tests), and
#    github.com/moby/sys/mountinfo, which upstream's validation/util imports (since 2022) but the
#    runtime-tools library package does not depend on.
pkgs="golang-go golang-github-opencontainers-runtime-tools-dev golang-github-moby-sys-dev crun runc
  busybox-static util-linux tar"
# shellcheck disable=SC2086
sh scripts/ensure-packages.sh conformance $pkgs
sh scripts/setup.sh >/dev/null   # moat itself (bundle + native layer)

# 2. The suite's source. Debian's golang-github-opencontainers-runtime-tools-dev ships the library
#    (generate, specerror, validate, cgroups, error, filepath) but not validation/ nor
#    cmd/runtimetest, and not github.com/mndrix/tap-go nor github.com/google/uuid; the last two are
#    small stand-ins in scripts/conformance/shims/.
pkg=/usr/share/gocode/src/github.com/opencontainers/runtime-tools
for f in "$src/validation/util/test.go" "$src/cmd/runtimetest/main.go"; do
  if [ ! -f "$f" ]; then
    say "missing $f: put the runtime-tools validation/ and cmd/runtimetest/ sources in $src"
    say "(upstream github.com/opencontainers/runtime-tools; Debian packages only the library, in $pkg)"
    exit 2
  fi
done

# 3. Build, offline, in GOPATH mode against /usr/share/gocode.
gp=$out/gopath
stamp=$out/.build-stamp
newest=$(find "$src" "$pkg" scripts/conformance/shims -type f -newer "$stamp" 2>/dev/null | head -1 || true)
if [ ! -f "$stamp" ] || [ -n "$newest" ] || [ ! -x "$out/bin/runtimetest" ]; then
  say "building the suite into $out/bin"
  rm -rf "$gp" "$out/bin"
  mkdir -p "$gp/src/github.com/opencontainers" "$gp/src/github.com/mndrix/tap-go" "$gp/src/github.com/google/uuid" "$out/bin"
  cp -r "$pkg" "$gp/src/github.com/opencontainers/runtime-tools"
  cp -r "$src/validation" "$src/cmd" "$gp/src/github.com/opencontainers/runtime-tools/"
  cp scripts/conformance/shims/tap-go/tap.go "$gp/src/github.com/mndrix/tap-go/"
  cp scripts/conformance/shims/uuid/uuid.go "$gp/src/github.com/google/uuid/"
  (
    cd "$gp/src/github.com/opencontainers/runtime-tools"
    export GOPATH="$gp:/usr/share/gocode" GO111MODULE=off GOFLAGS= GOCACHE="$out/gocache" GOPROXY=off
    CGO_ENABLED=0 go build -o "$out/bin/runtimetest" ./cmd/runtimetest
    for d in validation/*/; do
      t=$(basename "$d")
      [ "$t" = util ] && continue
      go build -o "$out/bin/$t" "./validation/$t"
    done
  )
  touch "$stamp"
fi

# 4. The rootfs the tests unpack into each bundle (rootfs-amd64.tar.gz is not in any Debian
#    package): busybox-static with a symlink per applet, /etc/passwd and /etc/group, the usual
#    empty directories. runtimetest is copied in by the tests themselves.
run=$out/run
mkdir -p "$run"
#    Its root directory is 0755 (mktemp's 0700 would keep process_user's uid 10 from reaching
#    /runtimetest); .rootfs-v names this layout, so an older tarball is rebuilt.
if [ ! -f "$run/rootfs-amd64.tar.gz" ] || [ /bin/busybox -nt "$run/rootfs-amd64.tar.gz" ] ||
  [ "$(cat "$run/.rootfs-v" 2>/dev/null)" != 2 ]; then
  say "building rootfs-amd64.tar.gz from busybox-static"
  r=$(mktemp -d)
  chmod 0755 "$r"
  mkdir -p "$r/bin" "$r/sbin" "$r/usr/bin" "$r/usr/sbin" "$r/etc" "$r/proc" "$r/sys" "$r/dev" "$r/tmp" "$r/root" "$r/var"
  chmod 1777 "$r/tmp"
  cp /bin/busybox "$r/bin/busybox"
  for a in $(/bin/busybox --list-full); do
    [ -e "$r/$a" ] || ln -s /bin/busybox "$r/$a"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
  tar -C "$r" -czf "$run/rootfs-amd64.tar.gz" .
  rm -rf "$r"
  echo 2 >"$run/.rootfs-v"
fi
cp "$out/bin/runtimetest" "$run/runtimetest"

# 5. Run: every test with every runtime, TAP per test per runtime, a timeout per test.
tests="$*"
[ -n "$tests" ] || tests=$(cd "$out/bin" && ls | grep -v '^runtimetest$')
for rt in $runtimes; do
  case "$rt" in
    moat) cmd=$repo/bin/moat ;;
    *) cmd=$(command -v "$rt") ;;
  esac
  mkdir -p "$out/results/$rt"
  "$cmd" --version 2>/dev/null | head -1 >"$out/results/$rt/.version" || true
  for t in $tests; do
    say "$rt: $t"
    set +e
    (cd "$run" && RUNTIME=$cmd timeout --kill-after=10 "$timeout_s" "$out/bin/$t") \
      >"$out/results/$rt/$t.tap" 2>"$out/results/$rt/$t.stderr"
    echo $? >"$out/results/$rt/$t.rc"
    set -e
    # Whatever a crashed or timed-out test left behind: containers whose bundle is a test's.
    "$cmd" list --format json 2>/dev/null | node -e '
      let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
        let l = []; try { l = JSON.parse(s) || []; } catch {}
        for (const c of l) if (/\/ocitest/.test(c.bundle || "")) console.log(c.id);
      });' | while read -r id; do "$cmd" delete --force "$id" >/dev/null 2>&1 || true; done
  done
done

# 6. docs/conformance.md: the table between its results markers.
node scripts/conformance/report.mjs "$out/results" docs/conformance.md
say "wrote docs/conformance.md"
