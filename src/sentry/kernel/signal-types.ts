// Signal data the kernel keeps: actions, queued signals with their siginfo, signal sets.

import { SIGABRT, SIGBUS, SIGCHLD, SIGCONT, SIGFPE, SIGILL, SIGKILL, SIGQUIT, SIGSEGV, SIGSTOP, SIGSYS, SIGTRAP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGWINCH, SIGXCPU, SIGXFSZ } from '../abi/signals';

export const SIG_DFL = 0;
export const SIG_IGN = 1;
export const SA_NOCLDSTOP = 0x1;
export const SA_NOCLDWAIT = 0x2;
export const SA_SIGINFO = 0x4;
export const SA_RESTORER = 0x04000000;
export const SA_ONSTACK = 0x08000000;
export const SA_RESTART = 0x10000000;
export const SA_NODEFER = 0x40000000;
export const SA_RESETHAND = 0x80000000;

export const SI_USER = 0;
export const SI_KERNEL = 0x80;
export const SI_TKILL = -6;
export const SI_QUEUE = -1;
export const CLD_EXITED = 1;
export const CLD_KILLED = 2;
export const CLD_DUMPED = 3;
export const CLD_TRAPPED = 4;
export const CLD_STOPPED = 5;
export const CLD_CONTINUED = 6;

export interface SigAction {
  handler: number;
  flags: number;
  restorer: number;
  mask: bigint;
}

export interface SigInfo {
  signo: number;
  code: number;
  errno?: number;
  pid?: number;
  uid?: number;
  /** SIGCHLD: exit status or signal. */
  status?: number;
  utime?: number;
  stime?: number;
  /** Faults: the address. */
  addr?: number;
  /** sigqueue / timers: the value. */
  value?: number;
  /** SIGIO with F_SETSIG (the _sigpoll fields): the poll band and the fd. */
  band?: number;
  fd?: number;
  /** POSIX timers (SI_TIMER): the timer's id, its overrun count (raised while queued), sigev_value. */
  timerId?: number;
  overrun?: number;
  sigval?: bigint;
  /** Queued to the sandbox's init only because it was blocked: dropped if delivered by default. */
  toInitBlocked?: boolean;
  /** The tracer saw it at a signal-delivery-stop and let it through: delivered without a new stop. */
  ptraceSeen?: boolean;
}

export function sigbit(sig: number): bigint {
  return 1n << BigInt(sig - 1);
}

export const UNBLOCKABLE = sigbit(SIGKILL) | sigbit(SIGSTOP);
export const FULL_SET = (1n << 64n) - 1n;

export function isStopSignal(sig: number): boolean {
  return sig === SIGSTOP || sig === SIGTSTP || sig === SIGTTIN || sig === SIGTTOU;
}

/** Signals whose default action is to do nothing. */
export function defaultIgnored(sig: number): boolean {
  return sig === SIGCHLD || sig === SIGURG || sig === SIGWINCH || sig === SIGCONT;
}

/** Signals whose default action dumps core (reported with the 0x80 bit; no core file is written). */
export function defaultCore(sig: number): boolean {
  return sig === SIGQUIT || sig === SIGILL || sig === SIGTRAP || sig === SIGABRT || sig === SIGBUS ||
    sig === SIGFPE || sig === SIGSEGV || sig === SIGXCPU || sig === SIGXFSZ || sig === SIGSYS;
}

/** The 128-byte siginfo_t the application sees. */
export function encodeSigInfo(info: SigInfo): Uint8Array {
  const b = new Uint8Array(128);
  const dv = new DataView(b.buffer);
  dv.setInt32(0, info.signo, true);
  dv.setInt32(4, info.errno ?? 0, true);
  dv.setInt32(8, info.code, true);
  if (info.addr !== undefined) {
    dv.setUint32(16, info.addr % 0x1_0000_0000, true);
    dv.setUint32(20, Math.floor(info.addr / 0x1_0000_0000), true);
    return b;
  }
  if (info.band !== undefined) {
    dv.setBigInt64(16, BigInt(info.band), true);
    dv.setInt32(24, info.fd ?? 0, true);
    return b;
  }
  if (info.timerId !== undefined) {
    dv.setInt32(16, info.timerId, true);
    dv.setInt32(20, info.overrun ?? 0, true);
    dv.setBigInt64(24, BigInt.asIntN(64, info.sigval ?? 0n), true);
    return b;
  }
  dv.setInt32(16, info.pid ?? 0, true);
  dv.setUint32(20, info.uid ?? 0, true);
  if (info.signo === SIGCHLD) {
    dv.setInt32(24, info.status ?? 0, true);
    dv.setBigInt64(32, BigInt(info.utime ?? 0), true);
    dv.setBigInt64(40, BigInt(info.stime ?? 0), true);
  } else if (info.value !== undefined) {
    dv.setBigInt64(24, BigInt(Math.trunc(info.value)), true);
  }
  return b;
}
