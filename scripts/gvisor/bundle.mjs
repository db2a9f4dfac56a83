// The one bundle every runtime runs: a busybox root filesystem (as test/helpers/moat.ts makes
// them) holding the test programs in /tests and their helper programs under /gvisor at their path
// in gVisor's tree (see runfiles.cc), and a config.json rewritten for each run.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const BUSYBOX = '/bin/busybox';

// Every capability, as gVisor's own test runner grants them (those of them this session holds):
// tests that check permissions drop what they need dropped themselves.
const ALL_CAPS = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID',
  'SETPCAP', 'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW',
  'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT',
  'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD',
  'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG',
  'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ',
].map((c) => `CAP_${c}`); // in capability-number order; Debian's runsc (2022) refuses the 3 newer ones

/** The capabilities this process may hand on (its bounding set): runc refuses more. */
function grantable() {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  const bnd = BigInt(`0x${m ? m[1] : '0'}`);
  return ALL_CAPS.filter((_, bit) => (bnd >> BigInt(bit)) & 1n);
}

function makeRootfs(dir) {
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root', 'var', 'tests']) {
    fs.mkdirSync(path.join(dir, d), { recursive: true });
  }
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
  fs.copyFileSync(BUSYBOX, path.join(dir, 'bin', 'busybox'));
  fs.chmodSync(path.join(dir, 'bin', 'busybox'), 0o755);
  const applets = spawnSync(BUSYBOX, ['--list-full'], { encoding: 'utf8' }).stdout.trim().split('\n');
  // exit_script (exec's helper) starts with #!/bin/bash: busybox's sh stands in.
  for (const a of [...applets, 'bin/bash']) {
    const link = path.join(dir, a);
    if (a === 'bin/busybox' || fs.existsSync(link)) continue;
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync('/bin/busybox', link);
  }
  fs.writeFileSync(path.join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  fs.writeFileSync(path.join(dir, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
}

/**
 * Creates OUT/bundle-PID from OUT/bin (the programs hard-linked, or copied across devices): one
 * per runner, so that runners of different files can share OUT; remove() deletes it.
 */
export function makeBundle(out, programs, moat) {
  const dir = path.join(out, `bundle-${process.pid}`);
  fs.rmSync(dir, { recursive: true, force: true });
  const rootfs = path.join(dir, 'rootfs');
  makeRootfs(rootfs);
  const place = (from, to) => {
    fs.mkdirSync(path.dirname(to), { recursive: true });
    try {
      fs.linkSync(from, to);
    } catch {
      fs.copyFileSync(from, to);
    }
  };
  for (const p of programs) place(path.join(out, 'bin', p), path.join(rootfs, 'tests', p));
  const helpers = path.join(out, 'bin', 'helpers');
  if (fs.existsSync(helpers)) {
    for (const f of fs.readdirSync(helpers, { recursive: true })) {
      const from = path.join(helpers, f);
      if (fs.statSync(from).isFile()) place(from, path.join(rootfs, 'gvisor', f));
    }
  }
  // moat's template (runc's defaults) with a writable root, every capability this session holds
  // and gtest's tmpdir.
  spawnSync(moat, ['spec'], { cwd: dir, stdio: 'inherit' });
  const base = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  base.root.readonly = false;
  base.process.terminal = false;
  const caps = grantable();
  for (const k of ['bounding', 'effective', 'permitted']) base.process.capabilities[k] = caps;
  delete base.process.capabilities.ambient;
  delete base.process.capabilities.inheritable;
  base.process.env = [...base.process.env, 'TEST_TMPDIR=/tmp', 'HOME=/root'];
  return {
    dir,
    rootfs,
    /** config.json for one run of `args`. */
    configure(args) {
      base.process.args = args;
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(base, null, 2));
    },
    remove() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
    /** What a run left in /tmp goes, so that every run starts alike. */
    clean() {
      const tmp = path.join(rootfs, 'tmp');
      for (const f of fs.readdirSync(tmp)) fs.rmSync(path.join(tmp, f), { recursive: true, force: true });
    },
  };
}
