// A task's filesystem context (struct fs_struct): root, working directory, umask.

export class FsContext {
  refs = 1;
  constructor(public cwd = '/', public umask = 0o022) {}
  fork(): FsContext {
    return new FsContext(this.cwd, this.umask);
  }
  release(): void {
    this.refs--;
  }
}
