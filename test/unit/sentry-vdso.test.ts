// The sentry's handling of the host's vDSO (src/sentry/platform/vdso.ts): which maps lines it
// accepts as the moved vDSO, and the patches it makes to the real image of this host's kernel
// (read from this test process's own [vdso]). The whole path, under the sentry: test/sentry/progs/vdso.c.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { VDSO_BASE } from '../../src/sentry/mm/layout';
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
