// eventfd: a 64-bit counter as a file. read takes it (or 1 with EFD_SEMAPHORE) and waits while it
// is 0; write adds and waits while it would overflow.

import { EAGAIN, EINVAL } from '../abi/errno';
import type { Task } from '../kernel/task';
import { POLLIN, POLLOUT } from './constants';
import { allocAnonIno, anonStat, FileDescription, type StatInfo } from './file';

export const EFD_SEMAPHORE = 1;
const MAX = 0xffff_ffff_ffff_fffen;

function bytes(views: Uint8Array[]): Uint8Array | null {
  const v = views[0];
  return v && v.length >= 8 ? v : null;
}

export class EventFdFile extends FileDescription {
  private readonly anonIno = allocAnonIno();

  constructor(private count: bigint, flags: number, private readonly semaphore: boolean) {
    super(flags);
  }

  override read(_t: Task, dst: Uint8Array[]): number {
    const b = bytes(dst);
    if (!b) return -EINVAL;
    if (this.count === 0n) return -EAGAIN;
    const v = this.semaphore ? 1n : this.count;
    this.count -= v;
    new DataView(b.buffer, b.byteOffset, 8).setBigUint64(0, v, true);
    this.waitQueue.notify();
    return 8;
  }

  override write(_t: Task, src: Uint8Array[]): number {
    let b = bytes(src);
    if (!b && src.length > 1) {
      b = new Uint8Array(8);
      let p = 0;
      for (const s of src) for (let i = 0; i < s.length && p < 8; i++) b[p++] = s[i];
      if (p < 8) return -EINVAL;
    }
    if (!b) return -EINVAL;
    const v = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
    if (v > MAX) return -EINVAL;
    if (this.count + v > MAX) return -EAGAIN;
    this.count += v;
    this.waitQueue.notify();
    return 8;
  }

  override readiness(): number {
    return (this.count > 0n ? POLLIN : 0) | (this.count < MAX ? POLLOUT : 0);
  }

  override stat(): StatInfo {
    return anonStat(0o600, this.anonIno);
  }

  override get displayPath(): string {
    return 'anon_inode:[eventfd]';
  }
}
