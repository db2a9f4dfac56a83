// moat's /proc: a tree of nodes the sentry's VFS mounts at /proc. Public surface.
//
//   procRoot(kernel)         the root directory; each lookup, list and readlink names its caller
//   ProcNode                 file (read() at open), symlink (target()), dir (list(), lookup())
//
// Modes are permission bits only (0o555 directories, 0o444 files); the VFS adds the file type.

export { procRoot } from './root';
export type { ProcNode, ProcKernel } from './node';
/** fd/N links also give the open file, for the VFS to open it as Linux's magic links do. */
export { isFdLink, type ProcFdLink } from './fd';
