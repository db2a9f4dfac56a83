// Escape battery, kernel interfaces: /proc and /sys knobs, kernel memory, file handles (shocker),
// the keyring, user namespaces. Each attack runs in a default-spec container of the real bin/moat
// (or under `moat do` where stated) and must fail, as the attacker sees it and on the host.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { containerSuite } from '../helpers/moat';
import {
  SECCOMP_TODO, assertRefused, attack, doSeccompProfile, fileState, grantCaps, moatDo, removeAttacks, runAttack,
  battery,
} from './helpers';

let root: string;
containerSuite((r) => (root = r), () => {
  removeAttacks();
});

/** Host kernel knobs an escape would set (the ones this kernel has), by the step name the script prints. */
const PROC_KNOBS: Record<string, string> = {
  core_pattern: '/proc/sys/kernel/core_pattern',
  modprobe: '/proc/sys/kernel/modprobe',
  panic_on_oom: '/proc/sys/vm/panic_on_oom',
  hotplug: '/proc/sys/kernel/hotplug',
};

battery('1. /proc/sysrq-trigger and /proc/sys knobs (core_pattern, modprobe) cannot be written', () => {
  const knobs = Object.entries(PROC_KNOBS).filter(([, f]) => fs.existsSync(f));
  assert.ok(knobs.some(([k]) => k === 'core_pattern'), 'this kernel has no core_pattern?');
  const hostBefore = new Map(knobs.map(([, f]) => [f, fs.readFileSync(f, 'utf8')]));
  const sysrqOnHost = fs.existsSync('/proc/sysrq-trigger');
  // 'h' only prints sysrq help to the kernel log: harmless should the write ever go through.
  const script = [
    'if [ -e /proc/sysrq-trigger ]; then (echo h > /proc/sysrq-trigger) 2>/dev/null && echo "sysrq ok" || echo "sysrq refused"; else echo "sysrq absent"; fi',
    ...knobs.map(([k, f]) => `(echo "|/attacks/pwn %p" > ${f}) 2>/dev/null && echo "${k} ok" || echo "${k} refused"`),
    'grep -q " /proc/sys ro," /proc/self/mountinfo && echo "procsys-mount ro" || echo "procsys-mount rw"',
    '(echo /attacks/pwn > /sys/kernel/uevent_helper) 2>/dev/null && echo "uevent_helper ok" || echo "uevent_helper refused"',
    'grep -q " /sys ro," /proc/self/mountinfo && echo "sys-mount ro" || echo "sys-mount rw"',
  ].join('; ');
  let r;
  try {
    r = runAttack(root, ['sh', '-c', script]);
  } finally {
    // Should a write ever get through, put the host back (the assertions below still fail).
    for (const [f, v] of hostBefore) if (fs.readFileSync(f, 'utf8') !== v) fs.writeFileSync(f, v);
  }
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.steps.get('sysrq'), sysrqOnHost ? 'refused' : 'absent', r.stdout);
  for (const [k] of knobs) assert.equal(r.steps.get(k), 'refused', `${k}: ${r.stdout}`);
  assert.equal(r.steps.get('uevent_helper'), 'refused', r.stdout);
  assert.equal(r.steps.get('procsys-mount'), 'ro', r.stdout);
  assert.equal(r.steps.get('sys-mount'), 'ro', r.stdout);
  for (const [f, v] of hostBefore) assert.equal(fs.readFileSync(f, 'utf8'), v, `host ${f} changed`);
});

battery('2. /proc/kcore, /proc/keys, /proc/timer_list (and the other masked files) reveal nothing', () => {
  const masked = ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug', '/proc/latency_stats', '/proc/timer_stats'];
  const script = masked.map((f) => `if [ -e ${f} ]; then echo "${f} $(cat ${f} 2>/dev/null | wc -c) $(ls -lL ${f} | cut -c1)"; else echo "${f} absent"; fi`).join('; ');
  const r = runAttack(root, ['sh', '-c', `${script}; ls -A /proc/acpi /proc/scsi /sys/firmware 2>/dev/null | grep -v : | grep -c . ; true`]);
  assert.equal(r.status, 0, r.stderr);
  for (const f of masked) {
    const v = r.steps.get(f);
    // Absent on this kernel, or masked: /dev/null bound over it (a character device, 0 bytes).
    assert.ok(v === 'absent' || v === '0 c', `${f}: ${v} (host has it: ${fs.existsSync(f)})`);
  }
  // Sanity: the host really has something to hide there.
  assert.ok(fs.readFileSync('/proc/timer_list', 'utf8').length > 0);
  const lastLine = r.stdout.trim().split('\n').pop();
  assert.equal(lastLine, '0', `masked directories must be empty: ${r.stdout}`);
});

battery('4. shocker: open_by_handle_at of a host file (no CAP_DAC_READ_SEARCH) fails', () => {
  // A host file outside the rootfs, on the same filesystem as the rootfs (both under /tmp's fs).
  const secretDir = fs.mkdtempSync(path.join(path.dirname(root), 'moat-secret-'));
  const secret = path.join(secretDir, 'secret.txt');
  fs.writeFileSync(secret, 'host secret\n');
  try {
    const h = spawnSync(attack('shocker'), ['handle', secret], { encoding: 'utf8' });
    assert.equal(h.status, 0, h.stderr);
    const [type, hex] = h.stdout.trim().split(' ');
    const before = fileState([secret]);
    const r = runAttack(root, ['/attacks/shocker', 'attack', type!, hex!], { attacks: ['shocker'] });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!r.stdout.includes('host secret'), r.stdout);
    assertRefused(r.steps, ['host-file-open', 'host-file-open-write', 'fs-root-open'], ['EPERM'], r.stdout);
    // Also as `moat do`'s root (Docker's default capabilities: no CAP_DAC_READ_SEARCH either).
    const d = moatDo(root, [attack('shocker'), 'attack', type!, hex!]);
    assert.equal(d.status, 0, d.stderr);
    assertRefused(d.steps, ['host-file-open', 'host-file-open-write', 'fs-root-open'], ['EPERM'], d.stdout);
    assert.deepEqual(fileState([secret]), before);
  } finally {
    fs.rmSync(secretDir, { recursive: true, force: true });
  }
});

/** keyctl helper on the host: put a secret in root's user keyring (@u), and take it out again. */
function hostKey(desc: string, payload: string): () => void {
  const add = spawnSync('/bin/sh', ['-c', `exec "$0" host-add "$1" "$2"`, attack('keyring'), desc, payload], { encoding: 'utf8' });
  assert.equal(add.status, 0, add.stderr);
  return () => {
    spawnSync(attack('keyring'), ['host-remove', desc]);
  };
}

function assertNoHostKey(desc: string): void {
  const s = spawnSync(attack('keyring'), ['host-find', desc], { encoding: 'utf8' });
  assert.equal(s.stdout.trim(), 'absent', `the container added ${desc} to the host's user keyring`);
}

battery('11. keyctl under the default seccomp profile: the host keyrings are out of reach (EPERM)', { todo: SECCOMP_TODO }, () => {
  const tag = `moat-sec-${process.pid}-${Date.now()}`;
  const remove = hostKey(`${tag}-secret`, 'host-keyring-secret');
  const expectEperm = ['get-user-keyring', 'search-host-key', 'describe-session-keyring', 'join-session-keyring', 'add-key', 'request-key'];
  try {
    const d = moatDo(root, [attack('keyring'), `${tag}-secret`, `${tag}-added`]);
    try {
      assert.equal(d.status, 0, d.stderr);
      assert.ok(!d.stdout.includes('host-keyring-secret'), `moat do read the host key: ${d.stdout}`);
      assertRefused(d.steps, expectEperm, ['EPERM'], d.stdout);
      assertNoHostKey(`${tag}-added`);
    } finally {
      spawnSync(attack('keyring'), ['host-remove', `${tag}-added`]);
    }
    // A bundle whose spec carries the same profile.
    const profile = doSeccompProfile();
    assert.ok(profile !== undefined, 'no default seccomp profile in this build');
    const r = runAttack(root, ['/attacks/keyring', `${tag}-secret`, `${tag}-added`], {
      attacks: ['keyring'],
      mutate: (c) => {
        c.linux.seccomp = profile;
      },
    });
    try {
      assert.equal(r.status, 0, r.stderr);
      assert.ok(!r.stdout.includes('host-keyring-secret'), `the container read the host key: ${r.stdout}`);
      assertRefused(r.steps, expectEperm, ['EPERM'], r.stdout);
      assertNoHostKey(`${tag}-added`);
    } finally {
      spawnSync(attack('keyring'), ['host-remove', `${tag}-added`]);
    }
  } finally {
    remove();
  }
});

battery('12. unshare(CLONE_NEWUSER) under the default seccomp profile fails', { todo: SECCOMP_TODO }, () => {
  const d = moatDo(root, [attack('userns')]);
  assert.equal(d.status, 0, d.stderr);
  assertRefused(d.steps, ['clone-newuser', 'unshare-newuser'], ['EPERM'], d.stdout);
  const u = moatDo(root, ['/bin/busybox', 'unshare', '-U', '/bin/busybox', 'true']);
  assert.notEqual(u.status, 0, 'busybox unshare -U succeeded under moat do');
  const profile = doSeccompProfile();
  assert.ok(profile !== undefined, 'no default seccomp profile in this build');
  const r = runAttack(root, ['/attacks/userns'], {
    attacks: ['userns'],
    mutate: (c) => {
      c.linux.seccomp = profile;
      // Even a root holding more capabilities (but not CAP_SYS_ADMIN) stays out.
      grantCaps(c, ['SETUID', 'SETGID', 'SETFCAP', 'SYS_CHROOT']);
    },
  });
  assert.equal(r.status, 0, r.stderr);
  assertRefused(r.steps, ['clone-newuser', 'unshare-newuser'], ['EPERM'], r.stdout);
});
