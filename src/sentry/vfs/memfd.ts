// memfd_create: a tmpfs file with no name anywhere (what /proc/pid/fd shows is
// "/memfd:NAME (deleted)", as Linux does), in a tmpfs of its own that is mounted nowhere.

import { S_IFREG } from './constants';
import { Dentry } from './dentry';
import type { FsCreds } from './permission';
import { Mount, RW } from './mount';
import { RegularFile } from './regular-file';
import { MemFile } from './tmpfs/inode';
import { TmpFs } from './tmpfs/tmpfs';

let fs: TmpFs | undefined;
let mount: Mount | undefined;

export function newMemfd(name: string, creds: FsCreds, flags: number): RegularFile {
  fs ??= new TmpFs();
  mount ??= new Mount(fs, fs.root, null, null, RW, 'memfd');
  const inode = fs.newInode({ mode: S_IFREG | 0o777, uid: creds.fsuid, gid: creds.fsgid, rdev: 0, target: '' }) as MemFile;
  const d = new Dentry(`memfd:${name}`, fs.root, inode);
  d.deleted = true;
  return new RegularFile({ mount, dentry: d }, flags, inode.data);
}
