// The template cache (docs/vm.md#templates): one directory per template, named by the hash of
// everything that makes a saved guest usable — the QEMU binary, the kernel, the initramfs (agent,
// executor, modules: content-addressed already), the VM's size, the accelerator, the kernel
// command line and the device set. A change of any of them is another name: a template is never
// used for a machine it was not made for. Readable by root only; written once under a lock and
// published by an atomic rename; checked (size + SHA-256 of the state) before each use.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sys } from '../../sys';

/** Bumped when the layout or the agent's template contract changes. */
export const TEMPLATE_FORMAT = 6; // 6: the disk is a qcow2 overlay over a read-only raw base (-blockdev nodes)
export const DEFAULT_TEMPLATE_ROOT = '/var/lib/moat/vm-templates';

/** Where templates live: MOAT_VM_TEMPLATES (a directory, or `off`), else /var/lib/moat/vm-templates. */
export function templateRoot(env = process.env): string | undefined {
  const v = env.MOAT_VM_TEMPLATES;
  if (v === 'off') return undefined;
  if (v !== undefined && v !== '') {
    if (!path.isAbsolute(v)) return undefined;
    return v;
  }
  return DEFAULT_TEMPLATE_ROOT;
}

/** A file's identity for the key: path, size, mtime, inode (a package upgrade changes them). */
export function fileIdentity(file: string): string {
  const st = fs.statSync(file);
  return `${file}:${st.size}:${st.mtimeMs}:${st.ino}`;
}

/** The template's name: hex SHA-256 of its inputs (pure). */
export function templateKey(inputs: Record<string, unknown>): string {
  return crypto.createHash('sha256').update(JSON.stringify({ format: TEMPLATE_FORMAT, ...inputs })).digest('hex').slice(0, 32);
}

export interface TemplateMeta {
  format: number;
  key: string;
  stateBytes: number;
  sha256: string;
  memoryBytes: number;
  memorySha256: string;
  created: string;
}

/** The template guest's memory (a sparse file of the VM's size; the state leaves it out). */
export function memoryFile(dir: string): string {
  return path.join(dir, 'memory');
}

export function stateFile(dir: string): string {
  return path.join(dir, 'state');
}

function metaFile(dir: string): string {
  return path.join(dir, 'meta.json');
}

/**
 * Opens a published template's state read-only after checking it against its meta (format, key,
 * size). Returns the fd and the digest it must have (checkDigest, while QEMU reads it), or throws
 * an Error saying what is wrong.
 */
export function openTemplate(dir: string, key: string): { fd: number; sha256: string; memorySha256: string } {
  const meta = JSON.parse(fs.readFileSync(metaFile(dir), 'utf8')) as Partial<TemplateMeta>;
  if (meta.format !== TEMPLATE_FORMAT || meta.key !== key) throw new Error(`${metaFile(dir)}: made for another format or key`);
  const fd = fs.openSync(stateFile(dir), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size !== meta.stateBytes) throw new Error(`${stateFile(dir)}: ${st.size} bytes, its meta says ${meta.stateBytes}`);
    if (typeof meta.sha256 !== 'string' || typeof meta.memorySha256 !== 'string') throw new Error(`${metaFile(dir)}: no sha256`);
    const mem = fs.statSync(memoryFile(dir));
    if (!mem.isFile() || mem.size !== meta.memoryBytes) throw new Error(`${memoryFile(dir)}: ${mem.size} bytes, its meta says ${meta.memoryBytes}`);
    return { fd, sha256: meta.sha256, memorySha256: meta.memorySha256 };
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/** Throws unless the state's SHA-256 is the one recorded when it was saved. */
export function checkDigest(file: string, fd: number, sha256: string, digest = digestFd): void {
  if (digest(fd) !== sha256) throw new Error(`${file}: its SHA-256 is not the one recorded when it was saved`);
}

/**
 * Digest of a memory image: each non-zero 4 KiB page with its offset, read only where the file has
 * data. Independent of where the holes are (the template's file and a memfd of it agree), and a
 * sparse 256 MiB guest costs what its data does.
 */
export function digestPages(fd: number): string {
  const h = crypto.createHash('sha256');
  const ext = sys().dataExtents(fd);
  const buf = Buffer.allocUnsafe(1 << 20);
  const off = Buffer.alloc(8);
  for (let i = 0; i + 1 < ext.length; i += 2) {
    for (let pos = ext[i]!; pos < ext[i + 1]!; ) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, ext[i + 1]! - pos), pos);
      if (n === 0) break;
      for (let o = 0; o + PAGE <= n; o += PAGE) {
        const page = buf.subarray(o, o + PAGE);
        if (page.equals(ZERO_PAGE)) continue;
        off.writeBigUInt64LE(BigInt(pos + o));
        h.update(off);
        h.update(page);
      }
      pos += n;
    }
  }
  return h.digest('hex');
}
const PAGE = 4096;
const ZERO_PAGE = Buffer.alloc(PAGE);

export function digestFd(fd: number): string {
  const h = crypto.createHash('sha256');
  const buf = Buffer.allocUnsafe(4 << 20);
  for (let pos = 0; ; ) {
    const n = fs.readSync(fd, buf, 0, buf.length, pos);
    if (n === 0) break;
    h.update(buf.subarray(0, n));
    pos += n;
  }
  return h.digest('hex');
}

/** Writes meta.json for a state file just saved in `dir` (not yet published). */
export function writeMeta(dir: string, key: string): void {
  const file = (f: string, digest: (fd: number) => string): { bytes: number; sha256: string } => {
    fs.chmodSync(f, 0o600);
    const fd = fs.openSync(f, 'r');
    try {
      fs.fsyncSync(fd);
      return { bytes: fs.fstatSync(fd).size, sha256: digest(fd) };
    } finally {
      fs.closeSync(fd);
    }
  };
  const state = file(stateFile(dir), digestFd);
  const memory = file(memoryFile(dir), digestPages);
  const meta: TemplateMeta = { format: TEMPLATE_FORMAT, key, stateBytes: state.bytes, sha256: state.sha256, memoryBytes: memory.bytes, memorySha256: memory.sha256, created: new Date().toISOString() };
  fs.writeFileSync(metaFile(dir), JSON.stringify(meta) + '\n', { mode: 0o600 });
}

/** Takes the key's lock (polling: the event loop keeps running), or undefined after `timeoutMs`. */
export async function lockTemplate(root: string, key: string, timeoutMs: number): Promise<number | undefined> {
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  const fd = fs.openSync(path.join(root, `${key}.lock`), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  const deadline = Date.now() + timeoutMs;
  while (!sys().flock(fd, 'ex', true)) {
    if (Date.now() > deadline) {
      fs.closeSync(fd);
      return undefined;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return fd;
}

/** Moves a template out of the way (under its lock), then removes it. */
export function discardTemplate(root: string, key: string): void {
  const dir = path.join(root, key);
  const trash = path.join(root, `.trash-${key}-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  try {
    fs.renameSync(dir, trash);
  } catch {
    return; // gone already
  }
  fs.rmSync(trash, { recursive: true, force: true });
}

/** Templates kept: making one more removes the least recently made beyond this many. */
export const KEEP_TEMPLATES = 8;
/** A build directory older than this was left by a moat killed while making a template. */
const STALE_BUILD_MS = 60 * 60 * 1000;

/**
 * Housekeeping when a template has been made: build and trash directories left by a killed moat,
 * and the oldest templates beyond KEEP_TEMPLATES (each of another kernel, agent or size; one in use
 * by a maker, i.e. locked, is left alone). A running clone has its state open already.
 */
export function pruneTemplates(root: string, now = Date.now()): void {
  const made: { key: string; mtime: number }[] = [];
  for (const name of fs.readdirSync(root)) {
    const p = path.join(root, name);
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      continue;
    }
    if (name.startsWith('.trash-') || (name.startsWith('.build-') && now - st.mtimeMs > STALE_BUILD_MS)) fs.rmSync(p, { recursive: true, force: true });
    else if (/^[0-9a-f]{32}$/.test(name) && st.isDirectory()) made.push({ key: name, mtime: st.mtimeMs });
  }
  made.sort((a, b) => b.mtime - a.mtime);
  for (const { key } of made.slice(KEEP_TEMPLATES)) {
    const fd = fs.openSync(path.join(root, `${key}.lock`), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    try {
      if (!sys().flock(fd, 'ex', true)) continue;
      discardTemplate(root, key);
      fs.rmSync(path.join(root, `${key}.failed`), { force: true });
    } finally {
      fs.closeSync(fd);
    }
  }
}
