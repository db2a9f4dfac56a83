// A task's filesystem context (struct fs_struct): root, working directory, umask. Shared by
// CLONE_FS threads, copied by fork.

import { pathOf, type Location } from './mount';

export class FsContext {
  refs = 1;
  constructor(public root: Location, public cwdLoc: Location, public umask = 0o022) {}

  fork(): FsContext {
    return new FsContext(this.root, this.cwdLoc, this.umask);
  }

  release(): void {
    this.refs--;
  }

  /** The working directory's path (getcwd, /proc/pid/cwd): "(unreachable)" outside the root. */
  get cwd(): string {
    const p = pathOf(this.cwdLoc, this.root);
    if (p === null) return '(unreachable)';
    return this.cwdLoc.dentry.deleted ? `${p} (deleted)` : p;
  }
}
