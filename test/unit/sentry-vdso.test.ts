// The sentry's handling of the host's vDSO (src/sentry/platform/vdso.ts): which maps lines it
// accepts as the moved vDSO, and the patches it makes to the real image of this host's kernel
// (read from this test process's own [vdso]), and how the sentry's reads of application memory
// serve the vDSO's range from the kept image and never write it. The whole path, under the sentry: test/sentry/progs/vdso.c.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { EINVAL, ENOMEM } from '../../src/sentry/abi/errno';
import { STUB_BASE, VDSO_BASE } from '../../src/sentry/mm/layout';
import type { MemoryOps } from '../../src/sentry/mm/memory-file';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MemoryManager, PROT_READ, PROT_WRITE } from '../../src/sentry/mm/mm';
import { FakeAddressSpace } from '../helpers/fake-platform';
import { parseVdsoMappings, vdsoPatches } from '../../src/sentry/platform/vdso';

const hex = (n: number) => n.toString(16);
const line = (start: number, end: number, perms: string, name: string) =>
  `${hex(start)}-${hex(end)} ${perms} 00000000 00:00 0                          ${name}`;

test('vdso maps: the moved [vvar], [vvar_vclock] and [vdso] are taken, in address order, other lines ignored', () => {
  const maps = [
    '7ff000000000-7ff000001000 r-xp 00001000 fe:00 5383742                    /opt/moat/moat-stub',
    line(VDSO_BASE + 0x6000, VDSO_BASE + 0x8000, 'r-xp', '[vdso]'),
    line(VDSO_BASE, VDSO_BASE + 0x4000, 'r--p', '[vvar]'),
    line(VDSO_BASE + 0x4000, VDSO_BASE + 0x6000, 'r--p', '[vvar_vclock]'),
    '7ffe12aa6000-7ffe12ac7000 rw-p 00000000 00:00 0                          [stack]',
  ].join('\n');
  const m = parseVdsoMappings(maps);
  assert.ok(Array.isArray(m), String(m));
  assert.deepEqual(m.map((v) => [v.name, v.start - VDSO_BASE, v.prot]), [['[vvar]', 0, 1], ['[vvar_vclock]', 0x4000, 1], ['[vdso]', 0x6000, 5]]);
});

test('vdso maps: a vDSO the stub did not move, a writable one, none or two are refused', () => {
  const at = (s: number, perms = 'r-xp') => line(s, s + 0x2000, perms, '[vdso]');
  assert.match(String(parseVdsoMappings(at(0x7f53f1fff000))), /not inside/);
  assert.match(String(parseVdsoMappings(at(VDSO_BASE, 'rwxp'))), /writable/);
  assert.match(String(parseVdsoMappings(line(VDSO_BASE, VDSO_BASE + 0x4000, 'r--p', '[vvar]'))), /no \[vdso\]/);
  assert.match(String(parseVdsoMappings(`${at(VDSO_BASE)}\n${at(VDSO_BASE + 0x4000)}`)), /more than one/);
});

/** This process's own vDSO image (the host kernel's, as every stub has it). */
function ownVdso(): Uint8Array | undefined {
  const l = fs.readFileSync('/proc/self/maps', 'utf8').split('\n').find((x) => x.endsWith(' [vdso]'));
  if (!l) return undefined;
  const [s, e] = l.split(' ')[0]!.split('-').map((x) => parseInt(x, 16)) as [number, number];
  const image = new Uint8Array(e - s);
  const fd = fs.openSync('/proc/self/mem', 'r');
  try {
    fs.readSync(fd, image, 0, image.length, s);
  } finally {
    fs.closeSync(fd);
  }
  return image;
}

test("vdso patches on this host's real vDSO: getcpu's code becomes 'store 0, return 0', getrandom's symbols are hidden", (t) => {
  const image = ownVdso();
  if (!image) {
    t.skip('this host gives processes no vDSO');
    return;
  }
  const patches = vdsoPatches(image);
  assert.ok(Array.isArray(patches), String(patches));
  const code = patches.find((p) => p.bytes.length === 25);
  assert.ok(code, 'the getcpu replacement');
  assert.equal(code.bytes.at(-1), 0xc3, 'ends in ret');
  // Every other patch zeroes a symbol's st_shndx (2 bytes) or st_value (8 bytes) of getrandom's.
  for (const p of patches.filter((x) => x !== code)) {
    assert.ok(p.bytes.length === 2 || p.bytes.length === 8);
    assert.ok(p.bytes.every((b) => b === 0));
  }
  const text = Buffer.from(image).toString('latin1');
  if (text.includes('__vdso_getrandom')) assert.equal(patches.length, 1 + 2 * 2, 'both getrandom symbols hidden');
  // A copy with the patches applied is still accepted (idempotent), and a truncated image is not.
  const patched = Uint8Array.from(image);
  for (const p of patches) patched.set(p.bytes, p.offset);
  assert.ok(Array.isArray(vdsoPatches(patched)));
  assert.equal(typeof vdsoPatches(image.subarray(0, 32)), 'string');
  const notElf = Uint8Array.from(image);
  notElf[0] = 0;
  assert.match(String(vdsoPatches(notElf)), /not an x86-64 ELF64/);
});

// ---- reads of application memory in the vDSO (src/sentry/mm/mm.ts) ----

/** An address space with one anonymous page and the vDSO's mappings; its memory file a plain buffer. */
function spaceWithVdso(image: Uint8Array): MemoryManager {
  const ops: MemoryOps = {
    memfdCreate: () => fs.openSync('/dev/null', 'r'),
    mapShared: () => new ArrayBuffer(1 << 20),
    punchHole: () => {},
    copyData: () => {},
  };
  const mm = new MemoryManager(ops);
  mm.as = new FakeAddressSpace();
  assert.equal(mm.mmap(0x400000, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED), 0x400000);
  mm.vdso = [
    { start: VDSO_BASE, end: VDSO_BASE + 0x4000, prot: 1, name: '[vvar]' },
    { start: VDSO_BASE + 0x4000, end: VDSO_BASE + 0x6000, prot: 1, name: '[vvar_vclock]' },
    { start: VDSO_BASE + 0x6000, end: VDSO_BASE + 0x6000 + image.length, prot: 5, name: '[vdso]', bytes: image },
  ];
  return mm;
}

test('vdso memory: every read path of the sentry returns [vdso]\'s kept bytes, up to its end; none writes them; [vvar] does not read', () => {
  const image = new Uint8Array(0x2000).map((_, i) => (i * 7 + 1) & 0xff);
  image.set([0x7f, 0x45, 0x4c, 0x46]);
  image.set(Buffer.from('__vdso_time\0'), 0x1800);
  const kept = Uint8Array.from(image);
  const mm = spaceWithVdso(image);
  const at = VDSO_BASE + 0x6000;
  const end = at + image.length;

  // copyin: read(), views() (write(2)'s source, iovecs), prefixViews() (up to the end), a string.
  assert.deepEqual(mm.read(at, 4), Uint8Array.from([0x7f, 0x45, 0x4c, 0x46]));
  assert.deepEqual(mm.read(at + 0x100, 0x1f00), kept.subarray(0x100));
  assert.equal(mm.readU32(at), 0x464c457f);
  assert.equal(mm.read(end - 4, 8), null, 'past [vdso]: EFAULT, all or nothing');
  assert.deepEqual(mm.views(at, 0x2000, false), [kept]);
  assert.deepEqual(mm.prefixViews(end - 16, 64, false), [kept.subarray(0x2000 - 16)], 'write(2) copies up to the end');
  assert.equal(mm.readCString(at + 0x1800), '__vdso_time');
  assert.equal(mm.byteAt(at + 1), 0x45);
  assert.equal(mm.byteAt(end), -1);

  // /proc/pid/mem and PEEKTEXT's forced access: reads, stopping where [vdso] ends.
  const buf = new Uint8Array(0x3000);
  assert.equal(mm.forceAccess(at, buf, false), 0x2000);
  assert.deepEqual(buf.subarray(0, 0x2000), kept);

  // Nothing writes it: plain, forced (POKETEXT), /proc/pid/mem, views and prefixes for writing.
  assert.equal(mm.write(at, Uint8Array.of(0)), false);
  assert.equal(mm.write(at, Uint8Array.of(0), true), false);
  assert.equal(mm.writeU32(at, 0), false);
  assert.equal(mm.cmpxchgU32(at, 0x464c457f, 0), null);
  assert.equal(mm.forceAccess(at, new Uint8Array(8), true), 0);
  assert.equal(mm.views(at, 8, true), null);
  assert.equal(mm.prefixViews(at, 8, true), null);
  // A view handed out is a copy: scribbling on it leaves the kept image alone.
  mm.views(at, 8, false)![0]!.fill(0);
  mm.prefixViews(at, 8, false)![0]!.fill(0);
  assert.deepEqual(image, kept);

  // [vvar], [vvar_vclock], the stub's page, past the vDSO: not readable through the sentry.
  for (const a of [VDSO_BASE, VDSO_BASE + 0x4000, STUB_BASE, end, end + 0x1000]) {
    assert.equal(mm.read(a, 1), null, a.toString(16));
    assert.equal(mm.prefixViews(a, 1, false), null);
    assert.equal(mm.forceAccess(a, new Uint8Array(1), false), 0);
    assert.equal(mm.readCString(a), null);
  }
  // The application's own memory reads as before.
  assert.ok(mm.write(0x400000, Uint8Array.of(1, 2, 3)));
  assert.deepEqual(mm.read(0x400000, 3), Uint8Array.of(1, 2, 3));
  mm.destroy();
});

test('vdso memory: munmap, mremap and mprotect of the vDSO are refused (the sentry\'s fixed layout)', () => {
  const mm = spaceWithVdso(new Uint8Array(0x2000));
  const at = VDSO_BASE + 0x6000;
  assert.equal(mm.munmap(at, 0x2000), -EINVAL);
  assert.equal(mm.mremap(at, 0x2000, 0x3000, true), -EINVAL);
  assert.equal(mm.mremap(at, 0x2000, 0x2000, true, 0x500000), -EINVAL);
  assert.equal(mm.mprotect(at, 0x2000, PROT_READ | PROT_WRITE), -ENOMEM);
  assert.equal(mm.read(at, 1)?.length, 1);
  mm.destroy();
});
