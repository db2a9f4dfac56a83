// The character devices the sentry serves itself, chosen by a device node's rdev wherever the
// node is: null, zero, full, random, urandom, and tty (the container's console when it has one,
// ENXIO otherwise; console is the same terminal). Nothing here touches a host device.

import { ENOSPC, ENXIO } from '../../abi/errno';
import { randomFill } from '../../random';
import type { Task } from '../../kernel/task';
import type { MapSource } from '../../mm/mm';
import { makedev } from '../constants';
import { FileDescription, type Mappable } from '../file';
import type { Location } from '../mount';

export const DEV_NULL = makedev(1, 3);
export const DEV_ZERO = makedev(1, 5);
export const DEV_FULL = makedev(1, 7);
export const DEV_RANDOM = makedev(1, 8);
export const DEV_URANDOM = makedev(1, 9);
export const DEV_TTY = makedev(5, 0);
export const DEV_CONSOLE = makedev(5, 1);

function total(views: Uint8Array[]): number {
  let n = 0;
  for (const v of views) n += v.length;
  return n;
}

/** A device's open file: a path, no offset to speak of (lseek answers 0, as for /dev/null). */
abstract class DeviceFile extends FileDescription {
  constructor(loc: Location, flags: number) {
    super(flags);
    this.location = loc;
  }
  override seek(): number {
    return 0;
  }
}

class NullFile extends DeviceFile {
  override read(): number {
    return 0;
  }
  override write(_t: Task, src: Uint8Array[]): number {
    return total(src);
  }
}

class ZeroFile extends DeviceFile implements Mappable {
  override read(_t: Task, dst: Uint8Array[]): number {
    for (const d of dst) d.fill(0);
    return total(dst);
  }
  override write(_t: Task, src: Uint8Array[]): number {
    return total(src);
  }
  /** mmap of /dev/zero: zero-filled memory. */
  mapSource(): MapSource {
    const s = this.stat();
    return { pread: (dst) => (dst.fill(0), dst.length), info: { name: '/dev/zero', dev: s.dev, ino: s.ino }, anonymous: true };
  }
}

class FullFile extends ZeroFile {
  override write(): number {
    return -ENOSPC;
  }
}

class RandomFile extends DeviceFile {
  override read(_t: Task, dst: Uint8Array[]): number {
    for (const d of dst) randomFill(d);
    return total(dst);
  }
  override write(_t: Task, src: Uint8Array[]): number {
    return total(src); // "adds entropy": accepted and dropped, as an unprivileged write is
  }
}

/** Open the device rdev found at loc; console: the container's terminal, if it has one. */
export function openDevice(rdev: number, loc: Location, flags: number, console: FileDescription | undefined): FileDescription | number {
  switch (rdev) {
    case DEV_NULL:
      return new NullFile(loc, flags);
    case DEV_ZERO:
      return new ZeroFile(loc, flags);
    case DEV_FULL:
      return new FullFile(loc, flags);
    case DEV_RANDOM:
    case DEV_URANDOM:
      return new RandomFile(loc, flags);
    case DEV_TTY:
    case DEV_CONSOLE:
      return console ? console.reopen(flags) : -ENXIO;
    default:
      return -ENXIO;
  }
}
