// The gofer (docs/sentry-gofer.md): a separate, confined process that holds the container's trees
// and answers fd-relative requests, so no application path string reaches a host path syscall.
// Public surface: the synchronous client, the launcher, the wire types the VFS sees.

export { GoferClient, type GoferClientOptions } from './client';
export { goferPath, spawnGofer, type GoferProcess, type GoferSpawnOptions } from './spawn';
export { O_DIRECTORY, O_NOATIME, type GoferDirent, type GoferEntry, type GoferStat } from './protocol';
