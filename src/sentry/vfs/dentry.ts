// Dentries: the names of inodes, with their parent links (for "..", getcwd and /proc/pid/fd) and
// a cache of looked-up children. Every change of a name goes through the VFS, which keeps this
// cache in step with the file systems; procfs (whose names come and go with processes) is not
// cached at all.

import type { Inode, LookupHint } from './inode';

export class Dentry {
  /** Children looked up so far (positive entries only). */
  children: Map<string, Dentry> | undefined;
  /** Mounts that have this dentry as their mount point. */
  mounts = 0;
  /** Unlinked (or replaced by a rename): its name is gone, the inode lives while used. */
  deleted = false;

  constructor(public name: string, public parent: Dentry | null, public inode: Inode) {}
}

/** The child called name (not "." or ".."): from the cache, or looked up in the inode. */
export function lookupChild(d: Dentry, name: string, hint?: LookupHint): Dentry | number {
  const c = d.children?.get(name);
  if (c) {
    if (c.mounts > 0 || c.inode.revalidate()) return c;
    forget(d, name); // gone or replaced on the host: looked up afresh
  }
  const r = d.inode.lookup(name, hint);
  if (typeof r === 'number') return r;
  return remember(d, name, r);
}

/** A dentry for a child just made (or found) under d. */
export function remember(d: Dentry, name: string, inode: Inode): Dentry {
  const nd = new Dentry(name, d, inode);
  if (d.inode.fs.cacheDentries) (d.children ??= new Map()).set(name, nd);
  return nd;
}

/** name left d (unlink, rmdir, the target of a rename). */
export function forget(d: Dentry, name: string): void {
  const c = d.children?.get(name);
  if (!c) return;
  d.children!.delete(name);
  c.deleted = true;
}

/** A rename: the dentry moves, so open files and working directories follow it. */
export function move(child: Dentry, newParent: Dentry, newName: string): void {
  child.parent?.children?.delete(child.name);
  forget(newParent, newName);
  child.parent = newParent;
  child.name = newName;
  if (newParent.inode.fs.cacheDentries) (newParent.children ??= new Map()).set(newName, child);
}

/** RENAME_EXCHANGE: two dentries swap names. */
export function swap(a: Dentry, b: Dentry): void {
  const [ap, an, bp, bn] = [a.parent!, a.name, b.parent!, b.name];
  ap.children?.delete(an);
  bp.children?.delete(bn);
  a.parent = bp;
  a.name = bn;
  b.parent = ap;
  b.name = an;
  (bp.children ??= new Map()).set(bn, a);
  (ap.children ??= new Map()).set(an, b);
}

/** Whether a is d or one of d's ancestors (a rename must not move a directory into itself). */
export function isAncestor(a: Dentry, d: Dentry): boolean {
  for (let p: Dentry | null = d; p; p = p.parent) if (p === a) return true;
  return false;
}
