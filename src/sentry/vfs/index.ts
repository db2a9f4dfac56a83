// The sentry's VFS: public surface. BOOTSTRAP: a minimal file table and host-backed files so the
// kernel can run its first programs; the real VFS (gofer-backed overlay, tmpfs, /proc, /dev,
// pipes, poll) replaces the internals behind the same names.

export { FileDescription, HostStreamFile } from './file';
export { FdTable, type FdEntry } from './fd-table';
export { FsContext } from './fs-context';
export { Vfs, type ExecFile, type VfsOptions } from './vfs';
