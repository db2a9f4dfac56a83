// The gofer (docs/sentry-gofer.md): a separate, confined process that holds the container's trees
// and answers fd-relative requests, so no application path string reaches a host path syscall.
// Public surface: the synchronous client, the launcher, the wire types the VFS sees.

export { GoferClient, type GoferClientOptions, type GoferSetAttr } from './client';
export { goferPath, spawnGofer, type GoferProcess, type GoferSpawnOptions, type GoferTree } from './spawn';
export {
  AT_REMOVEDIR, O_DIRECTORY, O_NOATIME, O_RDWR, O_TRUNC, O_WRONLY, SETATTR_ATIME, SETATTR_GID, SETATTR_MODE, SETATTR_MTIME, SETATTR_SIZE, SETATTR_UID,
  type GoferDirent, type GoferEntry, type GoferStat } from './protocol';
