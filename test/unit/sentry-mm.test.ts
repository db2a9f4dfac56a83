// The memory manager (src/sentry/mm/mm.ts) against the test double of the platform's address
// space (test/helpers/fake-platform.ts): each mmap, munmap, mprotect, brk and fork becomes the
// map/unmap/protect calls the platform is asked for — no host syscall of the mm's own — and a
// change the platform refuses leaves the VMAs as they were.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ESRCH } from '../../src/sentry/abi/errno';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, MemoryManager, PROT_READ, PROT_WRITE } from '../../src/sentry/mm/mm';
import { BufferMemory, FakeAddressSpace } from '../helpers/fake-platform';

const PAGE = 4096;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

function space(): { mm: MemoryManager; as: FakeAddressSpace } {
  const mm = new MemoryManager(new BufferMemory(1 << 22));
  const as = new FakeAddressSpace();
  mm.as = as;
  return { mm, as };
}

const ops = (as: FakeAddressSpace) => as.calls.map((c) => [c.op, c.addr, c.len, c.prot]);

test('anonymous memory is the memory file mapped shared; a PROT_NONE reservation has no pages', () => {
  const { mm, as } = space();
  const a = mm.mmap(0x10000000, 2 * PAGE, RW, ANON | MAP_FIXED);
  const r = mm.mmap(0x20000000, 4 * PAGE, 0, ANON | MAP_FIXED);
  assert.deepEqual(ops(as), [['mapMemory', a, 2 * PAGE, RW], ['reserve', r, 4 * PAGE, 0]]);
  assert.ok(as.calls[0]!.off >= 0, 'an offset in the memory file');
  // The sentry sees what the application would write: the same pages.
  assert.ok(mm.write(a + 10, Uint8Array.of(7)));
  assert.equal(mm.byteAt(a + 10), 7);
  mm.destroy();
});

test('mprotect of part of a mapping protects that part; of a reservation, maps pages for it', () => {
  const { mm, as } = space();
  const a = mm.mmap(0x10000000, 4 * PAGE, RW, ANON | MAP_FIXED);
  const r = mm.mmap(0x20000000, 2 * PAGE, 0, ANON | MAP_FIXED);
  as.calls.length = 0;
  assert.equal(mm.mprotect(a + PAGE, PAGE, PROT_READ), 0);
  assert.equal(mm.mprotect(r, PAGE, RW), 0);
  assert.deepEqual(ops(as), [['protect', a + PAGE, PAGE, PROT_READ], ['mapMemory', r, PAGE, RW]]);
  assert.equal(mm.find(a)!.prot, RW);
  assert.equal(mm.find(a + PAGE)!.prot, PROT_READ);
  mm.destroy();
});

test('munmap and a shrinking brk unmap; a growing brk maps the new heap pages', () => {
  const { mm, as } = space();
  mm.brkStart = mm.brkCur = 0x600000;
  assert.equal(mm.brk(0x600000 + 3 * PAGE), 0x600000 + 3 * PAGE);
  assert.equal(mm.brk(0x600000 + PAGE), 0x600000 + PAGE);
  const a = mm.mmap(0, PAGE, RW, ANON);
  assert.equal(mm.munmap(a, PAGE), 0);
  assert.deepEqual(ops(as), [
    ['mapMemory', 0x600000, 3 * PAGE, RW],
    ['unmap', 0x600000 + PAGE, 2 * PAGE, 0],
    ['mapMemory', a, PAGE, RW],
    ['unmap', a, PAGE, 0],
  ]);
  assert.equal(mm.find(a), undefined);
  mm.destroy();
});

test('shared anonymous memory is an object of its own, and a fork maps the same object into its host side', () => {
  const { mm, as } = space();
  const a = mm.mmap(0, 2 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS);
  const p = mm.mmap(0, PAGE, RW, ANON);
  assert.equal(as.calls[0]!.op, 'mapObject');
  const child = mm.fork();
  const cas = new FakeAddressSpace();
  child.as = cas;
  assert.equal(child.mirrorInto(), 0);
  const byAddr = new Map(cas.calls.map((c) => [c.addr, c]));
  assert.equal(byAddr.get(a)!.op, 'mapObject');
  assert.equal(byAddr.get(a)!.fd, as.calls[0]!.fd, 'the same object');
  assert.equal(byAddr.get(p)!.op, 'mapMemory', 'private pages: the child\'s own memory file');
  // Writes through the shared mapping are seen by both; the private page is a copy.
  assert.ok(mm.write(a, Uint8Array.of(1)) && mm.write(p, Uint8Array.of(2)));
  assert.equal(child.byteAt(a), 1);
  assert.equal(child.byteAt(p), 0);
  child.destroy();
  mm.destroy();
});

test('a change the platform refuses (no thread stopped) fails with its error and maps nothing', () => {
  const { mm, as } = space();
  as.stopped = false;
  assert.equal(mm.mmap(0x10000000, PAGE, RW, ANON | MAP_FIXED), -ESRCH);
  assert.equal(mm.find(0x10000000), undefined);
  as.stopped = true;
  const a = mm.mmap(0x10000000, PAGE, RW, ANON | MAP_FIXED);
  as.stopped = false;
  assert.equal(mm.mprotect(a, PAGE, PROT_READ), -ESRCH);
  mm.destroy();
});
