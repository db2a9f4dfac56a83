// A newc ("070701") cpio archive writer: what the kernel unpacks as an initramfs. Pure.

export interface CpioEntry {
  /** Path inside the archive, without a leading slash (`init`, `modules/virtio.ko`). */
  name: string;
  kind: 'file' | 'dir';
  /** Permission bits (0o755). */
  mode: number;
  /** File contents (files only). */
  data?: Buffer;
}

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function header(ino: number, mode: number, nlink: number, size: number, nameLen: number): string {
  // magic ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
  return `070701${hex8(ino)}${hex8(mode)}${hex8(0)}${hex8(0)}${hex8(nlink)}${hex8(0)}${hex8(size)}${hex8(0)}${hex8(0)}${hex8(0)}${hex8(0)}${hex8(nameLen)}${hex8(0)}`;
}

function pad4(len: number): Buffer {
  return Buffer.alloc((4 - (len % 4)) % 4);
}

/** The archive, deterministic (mtime 0, uid/gid 0, inode numbers by position): same input, same bytes. */
export function writeCpio(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const push = (ino: number, mode: number, nlink: number, name: string, data: Buffer) => {
    if (name.includes('\0') || name.startsWith('/')) throw new Error(`cpio entry ${JSON.stringify(name)}: relative path without NUL expected`);
    const nameBuf = Buffer.from(`${name}\0`);
    const head = Buffer.from(header(ino, mode, nlink, data.length, nameBuf.length), 'ascii');
    parts.push(head, nameBuf, pad4(head.length + nameBuf.length), data, pad4(data.length));
  };
  entries.forEach((e, i) => {
    if (e.kind === 'dir') push(i + 1, S_IFDIR | (e.mode & 0o7777), 2, e.name, Buffer.alloc(0));
    else push(i + 1, S_IFREG | (e.mode & 0o7777), 1, e.name, e.data ?? Buffer.alloc(0));
  });
  push(0, 0, 1, 'TRAILER!!!', Buffer.alloc(0));
  return Buffer.concat(parts);
}
