// The sentry's pure parts against hostile input: the ELF parser (the program is the application's),
// the control socket's request parser (a client's), the register file's number conversions.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { ENOEXEC } from '../../src/sentry/abi/errno';
import { parseExecRequest } from '../../src/sentry/control';
import { parseContainerRequest } from '../../src/sentry/control-container';
import { parseElf, PT_LOAD } from '../../src/sentry/loader/elf';
import { Registers, REG } from '../../src/sentry/platform/registers';

const reader = (bytes: Uint8Array) => (dst: Uint8Array, pos: number): number => {
  if (pos >= bytes.length) return 0;
  const n = Math.min(dst.length, bytes.length - pos);
  dst.set(bytes.subarray(pos, pos + n));
  return n;
};

test('parseElf reads a real static executable (busybox): type, entry, PT_LOAD segments', () => {
  const bin = new Uint8Array(fs.readFileSync('/bin/busybox'));
  const h = parseElf(reader(bin));
  assert.notEqual(typeof h, 'number');
  if (typeof h === 'number') return;
  assert.equal(h.type, 2);
  assert.ok(h.entry > 0x400000);
  const loads = h.phdrs.filter((p) => p.type === PT_LOAD);
  assert.ok(loads.length >= 2);
  for (const p of loads) assert.ok(p.filesz <= p.memsz && p.offset % 4096 === p.vaddr % 4096);
});

test('parseElf refuses what is not a loadable x86-64 ELF, without throwing', () => {
  const bin = new Uint8Array(fs.readFileSync('/bin/busybox'));
  const cases: Uint8Array[] = [
    new Uint8Array(0),
    new Uint8Array(63),
    Buffer.from('#!/bin/sh\necho hi\n'),
    (() => { const b = bin.slice(0, 64); b[4] = 1; return b; })(), // 32-bit class
    (() => { const b = bin.slice(0, 4096); b[18] = 3; return b; })(), // i386 machine
    (() => { const b = bin.slice(0, 4096); new DataView(b.buffer).setUint16(56, 60000, true); return b; })(), // phnum
    (() => { const b = bin.slice(0, 4096); new DataView(b.buffer).setUint32(32, 0xfffffff0, true); return b; })(), // phoff past the end
    bin.slice(0, 100), // headers cut short
  ];
  for (const c of cases) assert.equal(parseElf(reader(c)), -ENOEXEC);
});

test('parseElf on 2000 random mutations of a real header never throws and gives exact numbers or -1 (the loader refuses those segments)', () => {
  const bin = new Uint8Array(fs.readFileSync('/bin/busybox').subarray(0, 8192));
  for (let i = 0; i < 2000; i++) {
    const b = bin.slice();
    const flips = randomBytes(16);
    for (let j = 0; j < 8; j++) b[flips.readUInt16LE(j * 2) % 1024] = flips[j + 8]!;
    const h = parseElf(reader(b));
    if (typeof h === 'number') {
      assert.equal(h, -ENOEXEC);
      continue;
    }
    for (const p of h.phdrs) {
      if (p.type !== PT_LOAD) continue;
      // Beyond 2^53 is -1, never a rounded number; loader.ts's loadSegment refuses -1 and filesz > memsz.
      for (const v of [p.offset, p.vaddr, p.filesz, p.memsz]) assert.ok(v === -1 || (Number.isSafeInteger(v) && v >= 0), String(v));
    }
  }
});

test('parseExecRequest accepts a well-formed exec and names the field of anything else', () => {
  const ok = { type: 'exec', args: ['sh', '-c', 'true'], env: ['PATH=/bin'], cwd: '/', uid: 0, gid: 0, groups: [] };
  assert.deepEqual(parseExecRequest(Buffer.from(JSON.stringify(ok))), ok);
  const bad: Array<[unknown, RegExp]> = [
    ['not json', /not JSON/],
    [[1, 2], /type/],
    [{ ...ok, type: 'run' }, /request\.type/],
    [{ ...ok, args: [] }, /request\.args/],
    [{ ...ok, args: ['a\0b'] }, /request\.args/],
    [{ ...ok, env: 'PATH=/bin' }, /request\.env/],
    [{ ...ok, cwd: 'relative' }, /request\.cwd/],
    [{ ...ok, uid: -1 }, /uid\/gid/],
    [{ ...ok, gid: 1.5 }, /uid\/gid/],
    [{ ...ok, groups: ['0'] }, /groups/],
  ];
  for (const [v, re] of bad) {
    const r = parseExecRequest(Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)));
    assert.equal(typeof r, 'string', JSON.stringify(v));
    assert.match(r as string, re);
  }
});

test('parseContainerRequest (a pod container in the sentry) accepts a well-formed request and names the field of anything else', () => {
  const ok = {
    type: 'container', id: 'abc-1.x', args: ['sh'], env: ['PATH=/bin'], cwd: '/', uid: 0, gid: 0, groups: [],
    rlimits: [{ resource: 7, soft: 1024, hard: 4096 }], readonlyRootfs: false, sharePids: false,
    mounts: [
      { destination: '/data', tree: 1, readonly: false, writable: true, shareKey: '2049:1234' },
      { destination: '/tmp/x', type: 'tmpfs', readonly: false, nosuid: true, nodev: true, noexec: false, options: 'size=64k', size: 65536, mode: 0o1777 },
    ],
  };
  assert.deepEqual(parseContainerRequest(Buffer.from(JSON.stringify(ok))), ok);
  const bad: Array<[unknown, RegExp]> = [
    [{ ...ok, type: 'exec' }, /request\.type/],
    [{ ...ok, id: '../x' }, /request\.id/],
    [{ ...ok, id: 'x'.repeat(129) }, /request\.id/],
    [{ ...ok, container: 'other' }, /request\.container/],
    [{ ...ok, args: [] }, /request\.args/],
    [{ ...ok, rlimits: [{ resource: 99, soft: 1, hard: 1 }] }, /request\.rlimits\[0\]/],
    [{ ...ok, readonlyRootfs: 'no' }, /readonlyRootfs/],
    [{ ...ok, sharePids: 1 }, /sharePids/],
    [{ ...ok, mounts: [{ destination: 'rel', tree: 1, readonly: true }] }, /mounts\[0\]\.destination/],
    [{ ...ok, mounts: [{ destination: '/d', tree: 0, readonly: true }] }, /mounts\[0\]\.tree/], // tree 0 is the rootfs
    [{ ...ok, mounts: [{ destination: '/d', tree: 64, readonly: true }] }, /mounts\[0\]\.tree/],
    [{ ...ok, mounts: [{ destination: '/d', type: 'proc', readonly: true }] }, /mounts\[0\]\.type/],
    [{ ...ok, mounts: [{ ...ok.mounts[1], mode: 0o17777 }] }, /mounts\[0\]\.mode/],
    [{ ...ok, mounts: [{ ...ok.mounts[0], shareKey: '../x' }] }, /mounts\[0\]\.shareKey/],
  ];
  for (const [v, re] of bad) {
    const r = parseContainerRequest(Buffer.from(JSON.stringify(v)));
    assert.equal(typeof r, 'string', JSON.stringify(v));
    assert.match(r as string, re);
  }
  // An exec may name a pod's container; only an id.
  assert.equal((parseExecRequest(Buffer.from(JSON.stringify({ type: 'exec', args: ['sh'], env: [], cwd: '/', uid: 0, gid: 0, groups: [], container: 'abc' }))) as { container?: string }).container, 'abc');
  assert.match(String(parseExecRequest(Buffer.from(JSON.stringify({ type: 'exec', args: ['sh'], env: [], cwd: '/', uid: 0, gid: 0, groups: [], container: 'a/b' })))), /request\.container/);
});

test('Registers: unsigned, signed and negative values round-trip through the u64 layout', () => {
  const r = new Registers();
  const cases = [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x1_0000_0000, 0x7ff0_0000_0000, 2 ** 53 - 1];
  for (const v of cases) {
    r.set(REG.rax, v);
    assert.equal(r.get(REG.rax), v);
  }
  for (const v of [-1, -2, -4095, -0x8000_0000, -(2 ** 40)]) {
    r.set(REG.rax, v);
    assert.equal(r.getSigned(REG.rax), v);
    assert.equal(r.i32[REG.rax * 2], v | 0);
  }
  r.set(REG.rdi, -100); // AT_FDCWD as the application passes it
  assert.equal(r.i32[REG.rdi * 2], -100);
  assert.equal(r.u32[REG.rdi * 2 + 1], 0xffff_ffff);
});
