// The few Linux calls Node lacks, behind one small interface (youki's `Syscall` idea): the real one
// is the N-API addon built from native/bindings; tests of planning code never need it.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { MoatError } from '../util/errors';

export interface Sys {
  pidfdOpen(pid: number): number;
  pidfdSendSignal(pidfd: number, signal: number): void;
  /** Wait up to timeoutMs for the process behind pidfd to exit; true if it has. */
  pidfdWaitExit(pidfd: number, timeoutMs: number): boolean;
  /** flock(2); returns false only when nonblock and the lock is held elsewhere. */
  flock(fd: number, op: 'ex' | 'sh' | 'un', nonblock: boolean): boolean;
  mkfifo(path: string, mode: number): void;
  socketpair(): [number, number];
  recvFd(fd: number): { fd: number; data: string } | null;
  /** SO_PEERCRED of a connected unix socket (moat service). */
  peerCred(fd: number): { pid: number; uid: number; gid: number };
  /** One sendmsg of data with up to 8 fds (SCM_RIGHTS); returns the bytes sent (native/bindings/sentry.c). */
  sendMsg(sock: number, data: Buffer, fds: number[]): number;
  setWinsize(fd: number, rows: number, cols: number): void;
  /** vm platform: a host pty pair (slave in raw mode, both O_NOCTTY and close-on-exec). */
  openPty(rows: number, cols: number): { master: number; slave: number; name: string };
  /** vm platform: send one fd with SCM_RIGHTS over a connected unix socket. */
  sendFd(sock: number, fd: number, data: string): void;
  getWinsize(fd: number): { rows: number; cols: number };
  /** vm templates: a sealed memfd (named `name`) with the file's non-zero pages (native/bindings/vm_mem.c). */
  templateMemfd(path: string, name: string): number;
  memfdSeals(fd: number): number;
  dataExtents(fd: number): number[];
  /** Load a cgroup device eBPF program (8-byte instructions) and attach it to a cgroup2 dir, replacing older ones. */
  bpfProgLoadAttach(cgroupPath: string, insns: Buffer, license: string): void;
  /** Ids of the device programs attached directly to a cgroup2 dir. */
  bpfProgQuery(cgroupPath: string): number[];
  /** AF_UNIX SOCK_SEQPACKET pair, close-on-exec (the sentry-gofer channel). */
  seqpacketPair(): [number, number];
  /**
   * One gofer round trip (docs/sentry-gofer.md), blocking: send request (its first requestLength
   * bytes), receive one reply message into reply. length 0: the gofer has gone; fd: the one
   * SCM_RIGHTS fd that came with it (close-on-exec) or -1. Throws on a socket error or a reply
   * that does not fit.
   */
  goferCall(fd: number, request: Buffer, reply: Buffer, requestLength?: number): { length: number; fd: number };
  /**
   * `moat do` on the vm platform: a watcher process that SIGKILLs the processes of these pidfds
   * when this process is gone (native/bindings/runner_watch.c). Returns the fd this process must
   * keep open for as long as they should live (close-on-exec).
   */
  watchRunner(pidfds: number[]): number;
  /** mount(2); '' for fstype or data passes NULL (the shim's rootfs, src/shim/mounts.ts). */
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  /** umount2(2). */
  umount2(target: string, flags: number): void;
  /** getrandom(2) into buf, whole (native/bindings/host_random.c): 0, or -errno. */
  hostRandom(buf: Uint8Array): number;
}

let nativeDirCache: string | undefined;

/** Directory holding moat-exec and the addon: <repo>/build/native, found from this file upward. */
export function nativeDir(): string {
  if (nativeDirCache) return nativeDirCache;
  const fromEnv = process.env.MOAT_NATIVE_DIR;
  if (fromEnv) return (nativeDirCache = fromEnv);
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'build', 'native');
    if (fs.existsSync(path.join(candidate, 'moat-exec'))) return (nativeDirCache = candidate);
    const sibling = path.join(dir, 'native');
    if (path.basename(dir) === 'build' && fs.existsSync(path.join(sibling, 'moat-exec'))) return (nativeDirCache = sibling);
    dir = path.dirname(dir);
  }
  throw new MoatError('ENATIVE', 'native layer not built (build/native/moat-exec missing): run `npm run build`');
}

export function executorPath(): string {
  return path.join(nativeDir(), 'moat-exec');
}

let sysCache: Sys | undefined;

export function sys(): Sys {
  if (sysCache) return sysCache;
  const addonPath = path.join(nativeDir(), 'moat_native.node');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    sysCache = require(addonPath) as Sys;
  } catch (err) {
    throw new MoatError('ENATIVE', `cannot load ${addonPath}: ${(err as Error).message}`);
  }
  return sysCache;
}
