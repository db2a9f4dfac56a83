// Opening a FIFO: a read-only open waits for a writer and a write-only open for a reader (unless
// O_NONBLOCK: then a reader opens at once and a writer fails with ENXIO); O_RDWR never waits.
// As in Linux, the waiting open has already joined its end of the pipe, so the other side finds
// it. The sentry re-runs a parked syscall from the start, so the joined end is kept in the task's
// blockState across re-runs; if a signal ends the wait, the kernel drops blockState and the pipe
// prunes the abandoned end the next time it looks.

import { ENXIO } from '../abi/errno';
import type { WaitQueue } from '../kernel/waitqueue';
import { O_ACCMODE, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY } from './constants';
import type { Inode } from './inode';
import type { Location } from './mount';
import { Pipe, PipeFile } from './pipe';

/** What can park a syscall (a Task). */
export interface Blocker {
  blockState: unknown;
  block(queues: WaitQueue[], deadline?: number, state?: unknown): number;
}

class PendingOpen {
  constructor(readonly pipe: Pipe, readonly file: PipeFile, readonly owner: Blocker, readonly peerOpens: number) {}
  stale(): boolean {
    return this.owner.blockState !== this;
  }
  /** The other end has been opened since this open started waiting. */
  ready(): boolean {
    const p = this.pipe;
    return (this.file.flags & O_ACCMODE) === O_RDONLY ? p.writerOpens > this.peerOpens : p.readerOpens > this.peerOpens;
  }
}

/** The FIFO inode at loc opened with flags: a file, -errno, or BLOCK (b was parked). */
export function openFifo(b: Blocker, inode: Inode, loc: Location, flags: number): PipeFile | number {
  const pipe = (inode.fifo ??= new Pipe());
  pipe.prune();
  const st = b.blockState;
  if (st instanceof PendingOpen && st.pipe === pipe) {
    if (!st.ready()) return b.block([pipe.queue], Infinity, st);
    pipe.pending.delete(st);
    return st.file;
  }
  const acc = flags & O_ACCMODE;
  if (acc === O_WRONLY && pipe.readers === 0 && flags & O_NONBLOCK) return -ENXIO;
  const f = new PipeFile(pipe, flags);
  f.location = loc;
  if (acc === O_RDWR || flags & O_NONBLOCK) return f;
  if (acc === O_RDONLY ? pipe.writers > 0 : pipe.readers > 0) return f;
  const p = new PendingOpen(pipe, f, b, acc === O_RDONLY ? pipe.writerOpens : pipe.readerOpens);
  pipe.pending.add(p);
  return b.block([pipe.queue], Infinity, p);
}
