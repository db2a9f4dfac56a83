// Private file mappings by reference (src/sentry/mm/file-ref.ts, mm.ts) against a test double of
// the platform's address space (test/helpers/fake-platform.ts): what it is asked to map, what the
// sentry reads, when a page is copied, and that every host file a mapping holds is released
// exactly once, when its last user goes. The ptrace address space's own part (the stub's fds of
// the files) against a fake of the native layer.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import type { MemoryOps } from '../../src/sentry/mm/memory-file';
import { FILE_REF, MAP_PRIVATE, MemoryManager, PROT_EXEC, PROT_READ, PROT_WRITE, type MapSource } from '../../src/sentry/mm/mm';
import { FileRef } from '../../src/sentry/mm/file-ref';
import { PtraceAddressSpace, type PtracePlatform } from '../../src/sentry/platform/ptrace';
import { FakeAddressSpace, type AsCall } from '../helpers/fake-platform';

const PAGE = 4096;
const NR_MMAP = 9;
const NR_PIDFD_GETFD = 438;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-fileref-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const ops: MemoryOps = {
  memfdCreate: () => fs.openSync('/dev/null', 'r'),
  mapShared: () => new ArrayBuffer(1 << 22),
  punchHole: () => {},
  copyData: () => {},
};

/** An address space whose host side is the recording double; its memory file a plain buffer. */
function space(): { mm: MemoryManager; as: FakeAddressSpace; calls: AsCall[] } {
  const mm = new MemoryManager(ops);
  const as = new FakeAddressSpace();
  mm.as = as;
  return { mm, as, calls: as.calls };
}

interface Injected {
  nr: number;
  args: number[];
}

/** The ptrace platform's address space over a fake native layer that records what is injected. */
function ptraceSpace(): { mm: MemoryManager; injected: Injected[]; fetched: number[] } {
  const injected: Injected[] = [];
  const fetched: number[] = [];
  const native = {
    inject: (_tid: number, nr: number, ...args: number[]) => {
      injected.push({ nr, args });
      if (nr === NR_PIDFD_GETFD) {
        fetched.push(args[1]!);
        return 100 + fetched.length;
      }
      return nr === NR_MMAP ? args[0] : 0;
    },
  };
  const p = {
    native,
    flushResume: () => {},
    adopt: (c: { addressSpace: PtraceAddressSpace }) => {
      c.addressSpace.contexts.add(c as never);
      return c;
    },
    forget: () => {},
  } as unknown as PtracePlatform;
  const mm = new MemoryManager(ops);
  mm.as = new PtraceAddressSpace(p, 4242);
  return { mm, injected, fetched };
}

/** A file of `pages` pages (page i filled with 'a'+i, plus `tail` bytes), and a source counting its uses. */
function file(name: string, pages: number, tail = 0) {
  const p = path.join(dir, name);
  const b = Buffer.alloc(pages * PAGE + tail);
  for (let i = 0; i <= pages; i++) b.fill(97 + i, i * PAGE, Math.min(b.length, (i + 1) * PAGE));
  fs.writeFileSync(p, b);
  const fd = fs.openSync(p, 'r+');
  const n = { held: 0, released: 0, copies: 0 };
  const src: MapSource = {
    info: { name: p, dev: 1, ino: 2 },
    fileSize: () => fs.fstatSync(fd).size,
    pread: (dst, pos) => {
      n.copies++;
      return fs.readSync(fd, dst, 0, dst.length, pos);
    },
    hostFile: () => {
      n.held++;
      let done = false;
      return {
        fd,
        release: () => {
          assert.equal(done, false, 'a host file released twice');
          done = true;
          n.released++;
        },
      };
    },
  };
  return { path: p, fd, src, n, bytes: b };
}

const maps = (calls: AsCall[]) => calls.filter((c) => c.op.startsWith('map'));

test('a read-only private mapping maps the file\'s host pages, read-only; nothing is copied', () => {
  const { mm, calls } = space();
  const f = file('ro', 4);
  const a = mm.mmap(0, 4 * PAGE, PROT_READ | PROT_EXEC, MAP_PRIVATE, f.src, 0);
  const b = mm.mmap(0, PAGE, PROT_READ, MAP_PRIVATE, f.src, 2 * PAGE);
  assert.ok(a > 0 && b > 0);
  const m = maps(calls);
  assert.deepEqual(m[0], { op: 'mapFile', addr: a, len: 4 * PAGE, prot: PROT_READ | PROT_EXEC, off: 0, fd: f.fd, key: m[0]!.key });
  assert.deepEqual(m[1], { op: 'mapFile', addr: b, len: PAGE, prot: PROT_READ, off: 2 * PAGE, fd: f.fd, key: m[0]!.key });
  assert.equal(f.n.copies, 0);
  assert.equal(mm.find(a)!.off, FILE_REF);

  // Every read path of the sentry sees the file's bytes (read with pread, not mapped).
  assert.deepEqual(Buffer.from(mm.read(a + PAGE - 2, 4)!), Buffer.from('aabb'));
  assert.equal(mm.readU32(b), 0x63636363);
  assert.equal(mm.byteAt(a + 3 * PAGE), 100);
  assert.deepEqual(Buffer.concat(mm.views(a, 4 * PAGE, false)!), f.bytes);
  assert.equal(mm.views(a, PAGE, true), null, 'never a view to write');
  const buf = new Uint8Array(PAGE);
  assert.equal(mm.forceAccess(a + PAGE, buf, false), PAGE);
  assert.equal(buf[0], 98);
  // The file's later writes show in pages no one wrote (the host's page cache).
  fs.writeSync(f.fd, 'hello\0', 0, 'latin1');
  assert.equal(mm.readCString(a), 'hello');
});

test('the tail of the file\'s last page reads as zeroes; past it (the file shrank) the sentry\'s reads fault', () => {
  const { mm } = space();
  const f = file('tail', 1, 100);
  const a = mm.mmap(0, 2 * PAGE, PROT_READ, MAP_PRIVATE, f.src, 0);
  assert.deepEqual(Array.from(mm.read(a + PAGE + 98, 4)!), [98, 98, 0, 0]);
  fs.ftruncateSync(f.fd, 10);
  assert.equal(mm.read(a + PAGE, 4), null, 'past the file\'s last page: EFAULT');
  assert.equal(mm.byteAt(a + PAGE), -1);
  assert.deepEqual(mm.prefixViews(a + PAGE - 4, 64, false)!.map((v) => v.length), [4], 'write(2) stops at the fault');
  assert.equal(mm.read(a + 8, 4)!.join(), '97,97,0,0');
});

test('mprotect adding PROT_WRITE copies those pages into the memory file and maps the copy; the file\'s later writes no longer show there', () => {
  const { mm, calls } = space();
  const f = file('cow', 3);
  const a = mm.mmap(0, 3 * PAGE, PROT_READ, MAP_PRIVATE, f.src, 0);
  calls.length = 0;
  assert.equal(mm.mprotect(a + PAGE, PAGE, PROT_READ | PROT_WRITE), 0);
  const m = maps(calls);
  assert.equal(m.length, 1);
  assert.deepEqual([m[0]!.op, m[0]!.addr, m[0]!.len, m[0]!.prot], ['mapMemory', a + PAGE, PAGE, PROT_READ | PROT_WRITE], 'the copy, from the memory file');
  assert.notEqual(mm.find(a + PAGE)!.off, FILE_REF);
  assert.equal(mm.find(a)!.off, FILE_REF, 'the other pages stay by reference');
  assert.equal(mm.find(a + 2 * PAGE)!.off, FILE_REF);
  assert.ok(mm.write(a + PAGE, Buffer.from('mine')));
  fs.writeSync(f.fd, Buffer.alloc(3 * PAGE, 122), 0, 3 * PAGE, 0);
  assert.equal(Buffer.from(mm.read(a + PAGE, 6)!).toString(), 'minebb');
  assert.equal(Buffer.from(mm.read(a, 2)!).toString(), 'zz');
  assert.equal(Buffer.from(mm.read(a + 2 * PAGE, 2)!).toString(), 'zz');
  // Dropping PROT_WRITE only: no copy, an mprotect.
  calls.length = 0;
  assert.equal(mm.mprotect(a, PAGE, PROT_READ | PROT_EXEC), 0);
  assert.deepEqual(calls.map((c) => c.op), ['protect']);
});

test('a forced write (POKEDATA) copies only the pages it writes, and needs the address space to remap them', () => {
  const { mm, as } = space();
  const f = file('poke', 4);
  const a = mm.mmap(0, 4 * PAGE, PROT_READ | PROT_EXEC, MAP_PRIVATE, f.src, 0);
  as.stopped = false;
  assert.equal(mm.write(a + 2 * PAGE + 8, Buffer.from('x'), true), false, 'no thread to remap with: refused');
  assert.equal(mm.forceAccess(a + 2 * PAGE, new Uint8Array(8), true), 0);
  assert.equal(mm.find(a + 2 * PAGE)!.off, FILE_REF, 'still by reference');
  as.stopped = true;
  assert.equal(mm.write(a + 2 * PAGE + 8, Buffer.from('x'), true), true);
  assert.equal(mm.byteAt(a + 2 * PAGE + 8), 120);
  assert.equal(mm.find(a + 2 * PAGE)!.prot, PROT_READ | PROT_EXEC, 'its protection kept');
  assert.equal(mm.find(a + PAGE)!.off, FILE_REF);
  assert.equal(mm.find(a + 3 * PAGE)!.off, FILE_REF);
  assert.equal(fs.readFileSync(f.path)[2 * PAGE + 8], 99, 'the file is unchanged');
});

test('a writable private mapping is a copy; a source without a host file too', () => {
  const { mm } = space();
  const f = file('rw', 2);
  mm.mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, f.src, 0);
  assert.equal(f.n.held, 0);
  assert.equal(f.n.copies, 1);
  const { hostFile: _, ...plain } = f.src;
  const a = mm.mmap(0, 2 * PAGE, PROT_READ, MAP_PRIVATE, plain, 0);
  assert.notEqual(mm.find(a)!.off, FILE_REF);
  assert.equal(f.n.copies, 2);
});

test('splits, fork and exit share the host file; it is released once, when its last mapping goes', () => {
  const { mm } = space();
  const f = file('life', 4);
  const a = mm.mmap(0, 4 * PAGE, PROT_READ, MAP_PRIVATE, f.src, 0);
  assert.equal(mm.munmap(a + PAGE, PAGE), 0); // two VMAs now
  const child = mm.fork();
  const childAs = new FakeAddressSpace();
  child.as = childAs;
  assert.equal(child.mirrorInto(), 0);
  assert.deepEqual(childAs.calls.map((c) => c.op), ['mapFile', 'mapFile'], 'the child\'s host side maps the same file');
  assert.equal(child.find(a)!.off, FILE_REF, 'the child maps the file too, no copy');
  assert.equal(f.n.copies, 0);
  assert.equal(mm.munmap(a, 4 * PAGE), 0);
  assert.equal(f.n.released, 0, 'the child still uses it');
  assert.equal(mm.mprotect(a, PAGE, PROT_READ), -12, 'gone from the parent');
  child.destroy();
  assert.equal(f.n.released, 1);
  assert.equal(f.n.held, 1);
});

test('at most MAX_HELD host files are held: past that a mapping is a copy, and one is held again once another goes', () => {
  const { mm } = space();
  const f = file('many', 1);
  const before = FileRef.live;
  const addrs: number[] = [];
  for (let i = before; i < 4096; i++) addrs.push(mm.mmap(0, PAGE, PROT_READ, MAP_PRIVATE, f.src, 0));
  assert.equal(FileRef.live, 4096);
  const over = mm.mmap(0, PAGE, PROT_READ, MAP_PRIVATE, f.src, 0);
  assert.notEqual(mm.find(over)!.off, FILE_REF, 'a copy');
  assert.equal(f.n.held, f.n.released + 4096 - before, 'the refused one was released at once');
  mm.munmap(addrs[0]!, PAGE);
  const again = mm.mmap(0, PAGE, PROT_READ, MAP_PRIVATE, f.src, 0);
  assert.equal(mm.find(again)!.off, FILE_REF);
  mm.destroy();
  assert.equal(FileRef.live, before);
  assert.equal(f.n.held, f.n.released);
});

test('ptrace: the stub fetches a file once (pidfd_getfd) and maps it private, read-only, from its own fd', () => {
  const { mm, injected, fetched } = ptraceSpace();
  const f = file('ptrace-ro', 4);
  const a = mm.mmap(0, 4 * PAGE, PROT_READ | PROT_EXEC, MAP_PRIVATE, f.src, 0);
  const b = mm.mmap(0, PAGE, PROT_READ, MAP_PRIVATE, f.src, 2 * PAGE);
  assert.deepEqual(fetched, [f.fd], 'the stub fetches the file once');
  const m = injected.filter((c) => c.nr === NR_MMAP);
  assert.deepEqual(m[0]!.args, [a, 4 * PAGE, PROT_READ | PROT_EXEC, MAP_PRIVATE | 0x10, 101, 0]);
  assert.deepEqual(m[1]!.args, [b, PAGE, PROT_READ, MAP_PRIVATE | 0x10, 101, 2 * PAGE]);
  mm.destroy();
  fs.closeSync(f.fd);
});

test('ptrace: a stub maps at most 1024 distinct files by reference over its life (it keeps their fds): past that, copies', () => {
  const { mm, fetched } = ptraceSpace();
  const files = Array.from({ length: 1025 }, (_, i) => file(`distinct-${i}`, 1));
  try {
    for (const f of files.slice(0, 1024)) assert.equal(mm.find(mm.mmap(0, PAGE, PROT_READ, MAP_PRIVATE, f.src, 0))!.off, FILE_REF);
    const last = files[1024]!;
    const a = mm.mmap(0, PAGE, PROT_READ, MAP_PRIVATE, last.src, 0);
    assert.notEqual(mm.find(a)!.off, FILE_REF);
    assert.deepEqual(Array.from(mm.read(a, 2)!), [97, 97]);
    assert.equal(fetched.length, 1024);
    assert.equal(last.n.held, last.n.released, 'the refused file is not held');
    // A file the stub has already is still mapped by reference.
    assert.equal(mm.find(mm.mmap(0, PAGE, PROT_READ, MAP_PRIVATE, files[3]!.src, 0))!.off, FILE_REF);
    mm.destroy();
  } finally {
    for (const f of files) fs.closeSync(f.fd);
  }
});
