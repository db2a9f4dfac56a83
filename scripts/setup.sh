#!/bin/sh
# Install what moat needs, idempotently: Debian packages (only when missing), npm dependencies
# (only when package-lock.json changed), then the build (TypeScript bundle + native layer).
#   sh scripts/setup.sh            what running moat needs
#   sh scripts/setup.sh test       + what the tests need (busybox-static for rootfs, runc as the peer,
#                                  mmdebstrap for the real-application suite's Debian rootfs)
#   sh scripts/setup.sh bench      + what the benchmark needs
set -eu
cd "$(dirname "$0")/.."
purpose="${1:-run}"

say() { printf 'moat setup: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  say "warning: not root; package installs and containers need root"
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  say "Node.js >= 20 is required (found: $(node --version 2>/dev/null || echo none))"
  exit 1
fi

# g++: the addon's one C++ file (native/bindings/unaccounted_buffer.cc, V8's API).
pkgs="gcc g++ make libc6-dev"
# The vm platform (docs/vm.md): the VMM (its qemu-system-common brings virtiofsd, for bind
# mounts), the guest kernel, mkfs.ext4 for the rootfs's base image, qemu-img for a container's
# overlay of it, ip and tc for the guest's network.
pkgs="$pkgs qemu-system-x86 qemu-utils linux-image-cloud-amd64 e2fsprogs iproute2"
case "$purpose" in
  test) pkgs="$pkgs busybox-static runc iproute2 procps mmdebstrap lxcfs"
        pkgs="$pkgs docker.io containerd podman conmon iptables uidmap slirp4netns fuse-overlayfs bsdutils tar containernetworking-plugins" ;;
  bench) pkgs="$pkgs busybox-static runc" ;;
esac
# shellcheck disable=SC2086
sh scripts/ensure-packages.sh "moat setup" $pkgs

stamp=node_modules/.moat-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error >&2
  cp package-lock.json "$stamp"
fi

node scripts/build.mjs

# moat's containerd shim v2 (docs/shim.md): containerd looks up `containerd-shim-moat-v2` on its
# PATH for runtime_type io.containerd.moat.v2. A symlink into /usr/local/bin, made once (root only),
# to bin/containerd-shim-moat-v2, itself a link to the C launcher the build above made
# (build/native/containerd-shim-moat-v2; it finds build/shim.js beside it for the Node server).
# MOAT_SHIM_LINK=0 leaves it alone (scripts that build a second checkout, e.g. gvisor-tests.sh, must
# not repoint the host's shim at it).
shim_link=/usr/local/bin/containerd-shim-moat-v2
shim_target="$PWD/bin/containerd-shim-moat-v2"
[ -x "$shim_target" ] || say "warning: $shim_target does not lead to a built launcher (build/native/containerd-shim-moat-v2)"
if [ "${MOAT_SHIM_LINK:-1}" != 0 ] && [ "$(id -u)" = 0 ] && [ -d /usr/local/bin ]; then
  if [ "$(readlink "$shim_link" 2>/dev/null)" != "$shim_target" ]; then
    if [ -e "$shim_link" ] && [ ! -L "$shim_link" ]; then
      say "left $shim_link alone: it is not a symlink of moat's (containerd will run that one)"
    else
      ln -sfn "$shim_target" "$shim_link"
      say "installed $shim_link -> $shim_target (runtime_type io.containerd.moat.v2)"
    fi
  fi
fi
