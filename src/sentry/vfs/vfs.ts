// The VFS root object the kernel talks to: the container's mount tree, exec, and the mount table
// for /proc. Layout of a container under the sentry (as runsc lays it out):
//
//   /            overlay: in-memory upper over the rootfs (gofer tree 0), read-only if asked
//   /proc        moat's procfs                          (nosuid,nodev,noexec)
//   /dev         tmpfs with the sentry's devices        (nosuid, mode 755, 64 MiB)
//   /dev/shm     tmpfs                                  (nosuid,nodev,noexec, 64 MiB)
//   /sys         minimal sysfs, read-only               (nosuid,nodev,noexec)
//   /tmp         tmpfs, only if the bundle does not mount /tmp and the image's /tmp is missing or
//                empty (runsc's rule: a non-empty /tmp stays visible, in the overlay)
//   bundle mounts, in order: bind → an overlay over gofer tree N (read-only if asked; a file mount
//                when the tree is a single file, on a file made if missing), or with no `ro` the
//                tree itself, served read-write by the gofer (writes reach the host), tmpfs →
//                tmpfs. Destinations the sentry serves itself (/dev, /dev/shm, /dev/pts,
//                /dev/mqueue, and /proc and /sys with all below) are skipped: its own are there.
//
// Mount points that do not exist are made in the overlay's memory (as runc makes them on disk).
// The host's files are only ever reached through the gofer; only writable binds are changed.

import { EACCES, EISDIR, ELOOP, ENOENT, ENOTDIR } from '../abi/errno';
import { GoferClient } from '../gofer';
import { CAP_FULL } from '../kernel/creds';
import type { ExecFileIds } from '../kernel/exec-creds';
import type { Task } from '../kernel/task';
import type { ExecSource } from '../loader/loader';
import { procRoot } from './proc';
import { devMajor, devMinor, S_IFDIR, S_IFMT, S_IFREG } from './constants';
import { remember } from './dentry';
import { makeDevFs } from './dev/devfs';
import { absolutePath, statOf, type FileDescription } from './file';
import { FsContext } from './fs-context';
import { GoferFs } from './gofer/gofer-fs';
import type { FileSystem } from './inode';
import { allMounts, location, Mount, mountLine, RW, type Location, type MountFlags } from './mount';
import { lookupAt } from './namei';
import { OverlayFs } from './overlay/overlay';
import { inodePermission, MAY_EXEC, type FsCreds } from './permission';
import { ProcFs } from './procfs';
import { isSymlink, step, Walk, type PathCtx } from './resolve';
import { makeSysFs } from './sysfs';
import { TmpFs } from './tmpfs/tmpfs';
import { LocalNodes } from './gofer/local-node';
import type { BindMountConfig } from '../config';
import type { TmpfsMountConfig } from '../tmpfs-mount';

/** A bundle mount: a bind (a gofer tree) or a tmpfs with its options. */
export type VfsMount = BindMountConfig | TmpfsMountConfig;

export interface VfsOptions {
  /** Host path of the container's root filesystem: informational only (the gofer holds the tree). */
  rootfs: string;
  /** The gofer's socket (fd in this process). */
  goferFd: number;
  readonly: boolean;
  mounts: VfsMount[];
  /** CPUs of the machine at start (sysfs's cpu/online); default one. */
  cpus?: number;
  /**
   * Another container of the same pod (kernel/pod-container.ts): this tree shares its /dev/shm
   * (POSIX shared memory is the pod's, as Kubernetes mounts the sandbox's shm into every
   * container) and its notion of the caller (one kernel, one syscall at a time).
   */
  podOf?: Vfs;
}

export interface ExecFile extends ExecSource {
  /** The absolute path inside the container (for /proc/pid/exe). */
  path: string;
  /** What a set-user-ID/set-group-ID exec looks at. */
  ids: ExecFileIds;
  close(): void;
}

/** The sentry's own set-up walks: root with every capability. */
const ROOT_CREDS: FsCreds = { fsuid: 0, fsgid: 0, groups: [], capEffective: CAP_FULL };
/** Bundle mounts the sentry replaces with its own: these, and anything under /proc or /sys. */
const OWN_MOUNTS = ['/dev', '/dev/shm', '/dev/pts', '/dev/mqueue'];
const OWN_TREES = ['/proc', '/sys'];
const MIB64 = 64 << 20;

/** A container path made absolute and clean ("//run/./" → "/run"). */
function normalize(p: string): string {
  return '/' + p.split('/').filter((c) => c !== '' && c !== '.').join('/');
}

function flags(f: Partial<MountFlags>): MountFlags {
  return { ...RW, ...f };
}

export class Vfs {
  readonly client: GoferClient;
  readonly rootMount: Mount;
  readonly root: Location;
  /** The pod's /dev/shm (shared by every container of the pod). */
  shm!: FileSystem;
  /** The pod's shared volumes' socket files, by the host directory's identity (BindMountConfig.shareKey). */
  private readonly sharedLocals: Map<string, LocalNodes>;
  /** The container's terminal (/dev/tty), if it has one. */
  console: FileDescription | undefined;

  constructor(readonly opts: VfsOptions) {
    if (opts.goferFd < 0) throw new Error('sentry VFS: no gofer channel (goferFd < 0)');
    this.sharedLocals = opts.podOf ? opts.podOf.sharedLocals : new Map();
    this.client = new GoferClient(opts.goferFd, { names: 'latin1' });
    // The rootfs is the sandbox's alone (runsc's default --file-access=exclusive): its lookups are kept.
    const rootfs = new OverlayFs(new GoferFs(this.client, 0, false, true).root.inode);
    this.rootMount = new Mount(rootfs, rootfs.root, null, null, flags({ readonly: opts.readonly }), 'overlay');
    this.root = location(this.rootMount, rootfs.root);
    this.defaultMounts();
    for (const m of opts.mounts) this.bundleMount(m);
  }

  private defaultMounts(): void {
    const hidden = { nosuid: true, nodev: true, noexec: true };
    // The kernel comes with the first caller (it does not exist yet when /proc is mounted).
    const proc = new ProcFs((caller) => procRoot(caller.kernel));
    this.mountAt('/proc', proc, flags(hidden), 'proc');
    this.mountAt('/dev', makeDevFs(), flags({ nosuid: true }), 'tmpfs', 'size=65536k,mode=755');
    // Always there, as Docker gives one (shm_open, sem_open); a bundle tmpfs at /dev/shm sets its options.
    const shm = this.opts.mounts.find((m): m is TmpfsMountConfig => m.type === 'tmpfs' && normalize(m.destination) === '/dev/shm');
    if (this.opts.podOf) {
      this.shm = this.opts.podOf.shm;
      this.mountAt('/dev/shm', this.shm, flags(hidden), 'shm', 'size=65536k');
    } else if (shm) this.shm = this.mountTmpfs('/dev/shm', shm, 'shm');
    else this.mountAt('/dev/shm', (this.shm = new TmpFs({ limit: MIB64 })), flags(hidden), 'shm', 'size=65536k');
    this.mountAt('/sys', makeSysFs(this.opts.cpus ?? 1), flags({ ...hidden, readonly: true }), 'sysfs');
    if (!this.opts.mounts.some((m) => normalize(m.destination) === '/tmp') && this.tmpIsFree()) {
      this.mountAt('/tmp', new TmpFs(), flags({ nosuid: true, nodev: true }), 'tmpfs');
    }
  }

  /** The image's /tmp is missing or empty: a tmpfs there hides nothing. */
  private tmpIsFree(): boolean {
    const r = lookupAt(this.setupCtx(), this.root, '/tmp', true);
    if (typeof r === 'number') return true;
    const ents = r.dentry.inode.readdir();
    return typeof ents !== 'number' && ents.length === 0;
  }

  private bundleMount(m: VfsMount): void {
    const dest = normalize(m.destination);
    if (OWN_MOUNTS.includes(dest) || OWN_TREES.some((s) => dest === s || dest.startsWith(s + '/'))) return;
    if (m.type === 'tmpfs') {
      this.mountTmpfs(dest, m, 'tmpfs');
      return;
    }
    if (m.writable === true && !m.readonly) {
      // A writable bind: the host tree itself (as runsc mounts binds), no in-memory layer.
      let local: LocalNodes | undefined;
      if (m.shareKey !== undefined) {
        local = this.sharedLocals.get(m.shareKey);
        if (!local) this.sharedLocals.set(m.shareKey, (local = new LocalNodes()));
      }
      const host = new GoferFs(this.client, m.tree, true, false, local);
      this.mountAt(dest, host, flags({}), 'none', '', !host.root.inode.isDir);
      return;
    }
    const lower = new GoferFs(this.client, m.tree).root.inode;
    const fs = new OverlayFs(lower);
    this.mountAt(dest, fs, flags({ readonly: m.readonly }), 'overlay', '', !lower.isDir);
  }

  /** A tmpfs with the bundle's options: size and inode limits, the root's mode and owner, flags. */
  private mountTmpfs(dest: string, m: TmpfsMountConfig, source: string): TmpFs {
    const fs = new TmpFs({
      ...(m.size ? { limit: m.size } : {}),
      ...(m.inodes ? { inodes: m.inodes } : {}),
      ...(m.mode !== undefined ? { mode: m.mode } : {}),
      uid: m.uid ?? 0,
      gid: m.gid ?? 0,
    });
    const f = flags({ readonly: m.readonly, nosuid: m.nosuid, nodev: m.nodev, noexec: m.noexec });
    this.mountAt(dest, fs, f, source, m.options);
    return fs;
  }

  private setupCtx(): PathCtx {
    return { creds: ROOT_CREDS, fs: { root: this.root, cwdLoc: this.root } };
  }

  /**
   * Mount fs at path (made if missing, symlinks in it followed inside the container). fileRoot:
   * fs's root is a file (a single-file bind), which goes on a file, as Linux wants: a directory
   * there is EISDIR, a missing file is made empty, like runc's mount points.
   */
  mountAt(path: string, fs: FileSystem, f: MountFlags, source: string, options = '', fileRoot = false): number {
    const at = fileRoot ? this.mkfile(path) : this.mkdirAll(path);
    if (typeof at === 'number') return at;
    if (at.dentry.inode.isDir === fileRoot) return fileRoot ? -EISDIR : -ENOTDIR;
    const m = new Mount(fs, fs.root, at.mount, at.dentry, f, source, options);
    at.mount.children.set(at.dentry, m);
    at.dentry.mounts++;
    return 0;
  }

  /** The file at path, made empty (mode 644) with its directories if missing, as root in memory. */
  private mkfile(path: string): Location | number {
    const names = path.split('/').filter((c) => c !== '');
    const last = names.pop();
    if (last === undefined) return -EISDIR;
    const dir = this.mkdirAll(names.join('/'));
    if (typeof dir === 'number') return dir;
    const w = new Walk(ROOT_CREDS, this.root, this.root);
    const found = step(w, dir, last, true);
    if (found !== -ENOENT) return found;
    const n = dir.dentry.inode.create(dir.dentry, last, { mode: S_IFREG | 0o644, uid: 0, gid: 0, rdev: 0, target: '' });
    if (typeof n === 'number') return n;
    return { mount: dir.mount, dentry: remember(dir.dentry, last, n) };
  }

  /** mkdir -p at set-up time (as root, in the overlay's memory even on a read-only rootfs). */
  private mkdirAll(path: string): Location | number {
    const w = new Walk(ROOT_CREDS, this.root, this.root);
    let cur = this.root;
    for (const name of path.split('/')) {
      if (name === '') continue;
      let next = step(w, cur, name, true);
      if (next === -ENOENT) {
        const n = cur.dentry.inode.create(cur.dentry, name, { mode: S_IFDIR | 0o755, uid: 0, gid: 0, rdev: 0, target: '' });
        if (typeof n === 'number') return n;
        next = { mount: cur.mount, dentry: remember(cur.dentry, name, n) };
      }
      if (typeof next === 'number') return next;
      cur = next;
    }
    return cur;
  }

  /** A stdio stream that is the container's terminal: it becomes /dev/console (and /dev/tty). */
  setConsole(f: FileDescription): void {
    const l = lookupAt(this.setupCtx(), this.root, '/dev/console', false);
    if (typeof l !== 'number') f.location = l;
    this.console ??= f;
  }

  /** The init's fs context: root, and cwd (made if missing, as runc does). */
  initialFsContext(cwd: string): FsContext {
    const l = this.mkdirAll(cwd || '/');
    return new FsContext(this.root, typeof l === 'number' ? this.root : l);
  }

  /** Open path (relative to the task's cwd) for execve: a regular file with an x bit for t. */
  openExec(t: Task, p: string): ExecFile | number {
    return this.openExecAt(t, t.fs.cwdLoc, p, true);
  }

  /** execveat: path from start; a final symlink is ELOOP unless follow (AT_SYMLINK_NOFOLLOW). */
  openExecAt(t: Task, start: Location, p: string, follow: boolean): ExecFile | number {
    const r = lookupAt(t, start, p, follow, 0, true);
    if (typeof r === 'number') return r;
    if (r.file) return -EACCES;
    if (!follow && isSymlink(r)) return -ELOOP;
    return this.execFileOf(t, r);
  }

  /** The file at l for execve (execveat's AT_EMPTY_PATH: an open file's location). */
  execFileOf(t: Task, r: Location): ExecFile | number {
    const inode = r.dentry.inode;
    if ((inode.attr().mode & S_IFMT) !== S_IFREG || r.mount.flags.noexec) return -EACCES;
    const perm = inodePermission(t.creds, inode, MAY_EXEC);
    if (perm < 0) return perm;
    const data = inode.openData(r.dentry, false);
    if (typeof data === 'number') return data;
    const st = statOf(r);
    const path = absolutePath(r);
    const a = inode.attr();
    return {
      path,
      ids: { mode: a.mode, uid: a.uid, gid: a.gid, nosuid: r.mount.flags.nosuid },
      size: data.size(),
      info: { name: path, dev: st.dev, ino: st.ino },
      pread: (dst, pos) => data.pread(dst, pos),
      ...(data.hostFile ? { hostFile: () => data.hostFile?.() } : {}),
      fileSize: () => data.size(),
      close: () => data.release(),
    };
  }

  /** execvp's search for the init's argv[0] (runc looks it up in the container's PATH). */
  lookPath(file: string, pathEnv: string, creds: FsCreds): string | null {
    if (file.includes('/')) return file;
    const ctx: PathCtx = { creds, fs: { root: this.root, cwdLoc: this.root } };
    for (const dir of pathEnv.split(':')) {
      const cand = `${dir || '.'}/${file}`;
      const r = lookupAt(ctx, this.root, cand, true);
      if (typeof r === 'number' || r.file) continue;
      if ((r.dentry.inode.attr().mode & S_IFMT) === S_IFREG && inodePermission(creds, r.dentry.inode, MAY_EXEC) === 0) return cand;
    }
    return null;
  }

  /** The pod's container is gone: its gofer channel closes (the gofer exits on EOF). */
  close(): void {
    this.client.disconnect();
  }

  /** /proc/mounts. */
  mountsText(): string {
    let s = '';
    for (const m of allMounts(this.rootMount)) {
      const line = mountLine(m, this.root);
      if (line) s += line + '\n';
    }
    return s;
  }

  /** /proc/pid/mountinfo, with the mount ids fdinfo's mnt_id names. */
  mountinfoText(): string {
    let s = '';
    for (const m of allMounts(this.rootMount)) {
      const line = mountLine(m, this.root);
      if (!line) continue;
      const [source, target, type, opts] = line.split(' ');
      const dev = m.fs.dev;
      s += `${m.id} ${m.parent?.id ?? m.id} ${devMajor(dev)}:${devMinor(dev)} / ${target} ${opts} - ${type} ${source} ${opts.startsWith('ro') ? 'ro' : 'rw'}\n`;
    }
    return s;
  }
}
