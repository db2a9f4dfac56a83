// The sentry's VFS (gVisor's design): public surface for the kernel and the syscall layer.
//
//   inode.ts, dentry.ts, mount.ts      the model: inodes, names, mounts and locations
//   resolve.ts, namei.ts, attr.ts      path resolution and the operations on names and attributes
//   open.ts, file.ts, regular-file.ts  open file descriptions
//   tmpfs/, overlay/, gofer/, dev/     file systems; procfs.ts mounts proc/ (the ProcNode tree)
//   pipe.ts, fifo.ts, epoll.ts, eventfd.ts, host-stream.ts   files without a path (or a FIFO's)
//   fd-table.ts, fs-context.ts         per-task state
//   vfs.ts                             the container's mount tree, exec, the mount table

export { FileDescription, type StatInfo } from './file';
export { HostStreamFile } from './host-stream';
export { FdTable, type FdEntry } from './fd-table';
export { FsContext } from './fs-context';
export { Vfs, type ExecFile, type VfsOptions, type VfsMount } from './vfs';
export type { Location } from './mount';
