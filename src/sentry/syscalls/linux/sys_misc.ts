// The rest of milestone 1: uname, arch_prctl, prctl, getrandom, rlimits, sysinfo, scheduling
// hints, and calls that are refused on purpose (they would touch the host: mount, reboot,
// modules, kexec, swap, raw I/O ports).

import { EFAULT, EINVAL, EPERM, ESRCH } from '../../abi/errno';
import { randomFill } from '../../random';
import { REG } from '../../platform/registers';
import { watchCpuLimit } from '../../kernel/cpu-limit';
import type { Task } from '../../kernel/task';
import { CAP_SYS_ADMIN, CAP_SYS_RESOURCE, capable } from '../../kernel/creds';
import { credsPrctl } from './sys_identity';

export const SENTRY_RELEASE = '6.1.0-moat-sentry';

const ARCH_SET_GS = 0x1001;
const ARCH_SET_FS = 0x1002;
const ARCH_GET_FS = 0x1003;
const ARCH_GET_GS = 0x1004;
const ARCH_GET_CPUID = 0x1011;
const ARCH_SET_CPUID = 0x1012;
const PR_SET_PDEATHSIG = 1;
const PR_GET_PDEATHSIG = 2;
const PR_GET_DUMPABLE = 3;
const PR_SET_DUMPABLE = 4;
const PR_SET_NAME = 15;
const PR_GET_NAME = 16;
const PR_GET_SECCOMP = 21;
const PR_SET_MM = 35;
const PR_SET_CHILD_SUBREAPER = 36;
const PR_GET_CHILD_SUBREAPER = 37;
const PR_GET_TID_ADDRESS = 40;
const PR_SET_THP_DISABLE = 41;
const PR_SET_VMA = 0x53564d41;

const PR_SET_VMA_ANON_NAME = 0;
const PR_SET_MM_AUXV = 12;
const PR_SET_MM_MAP = 14;
const PR_SET_MM_MAP_SIZE = 15;
/** sizeof(struct prctl_mm_map): eleven addresses, the auxv pointer, its size and an fd. */
const PRCTL_MM_MAP_SIZE = 104;

/**
 * prctl(PR_SET_MM, opt, addr, arg4, arg5), Linux's prctl_set_mm checks in its order: stray
 * arguments are EINVAL, PR_SET_MM_MAP_SIZE tells the size of struct prctl_mm_map, and everything
 * else needs CAP_SYS_RESOURCE (EPERM). The sentry keeps no settable layout of the address space
 * (the checkpoint/restore use), so a privileged caller gets EINVAL, as a kernel without
 * CONFIG_CHECKPOINT_RESTORE answers most of it.
 */
function setMm(t: Task): number {
  const opt = t.arg(1);
  if (t.arg(4) || (t.arg(3) && opt !== PR_SET_MM_AUXV && opt !== PR_SET_MM_MAP && opt !== PR_SET_MM_MAP_SIZE)) return -EINVAL;
  if (opt === PR_SET_MM_MAP_SIZE) return t.mm.writeU32(t.arg(2), PRCTL_MM_MAP_SIZE) ? 0 : -EFAULT;
  if (opt !== PR_SET_MM_MAP && !capable(t.creds, CAP_SYS_RESOURCE)) return -EPERM;
  return -EINVAL;
}
/** ANON_VMA_NAME_MAX_LEN: the name and its NUL. */
const ANON_NAME_MAX = 80;

/** prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, addr, len, name): printable ASCII but [ ] \\ $ `. */
function setVmaName(t: Task): number {
  if (t.arg(1) !== PR_SET_VMA_ANON_NAME) return -EINVAL;
  const addr = t.arg(2);
  if (addr % 4096 !== 0) return -EINVAL;
  const ptr = t.arg(4);
  let name: string | undefined;
  if (ptr !== 0) {
    const b = t.mm.readCBytes(ptr, ANON_NAME_MAX - 1);
    if (b === null) return -EFAULT;
    if (b === undefined) return -EINVAL;
    for (const c of b) if (c < 0x20 || c > 0x7e || c === 0x5c || c === 0x60 || c === 0x24 || c === 0x5b || c === 0x5d) return -EINVAL;
    name = Buffer.from(b).toString('latin1');
  }
  return t.mm.setAnonName(addr, t.arg(3), name);
}

function field(s: string): Uint8Array {
  const b = new Uint8Array(65);
  b.set(Buffer.from(s).subarray(0, 64));
  return b;
}

function uname(t: Task): number {
  const b = new Uint8Array(65 * 6);
  b.set(field('Linux'), 0);
  b.set(field(t.kernel.hostname), 65);
  b.set(field(SENTRY_RELEASE), 130);
  b.set(field('#1 SMP moat sentry'), 195);
  b.set(field('x86_64'), 260);
  b.set(field(t.kernel.domainname), 325);
  return t.mm.write(t.arg(0), b) ? 0 : -EFAULT;
}

function archPrctl(t: Task): number {
  const code = t.argInt(0);
  const addr = t.arg(1);
  switch (code) {
    case ARCH_SET_FS:
      if (addr >= 0x7fff_ffff_f000) return -EPERM;
      t.regs.set(REG.fs_base, addr);
      t.fullRegs = true;
      return 0;
    case ARCH_SET_GS:
      if (addr >= 0x7fff_ffff_f000) return -EPERM;
      t.regs.set(REG.gs_base, addr);
      t.fullRegs = true;
      return 0;
    case ARCH_GET_FS:
      return t.mm.writeU64(addr, t.regs.get(REG.fs_base)) ? 0 : -EFAULT;
    case ARCH_GET_GS:
      return t.mm.writeU64(addr, t.regs.get(REG.gs_base)) ? 0 : -EFAULT;
    case ARCH_GET_CPUID:
      return 1;
    case ARCH_SET_CPUID:
      return -EINVAL;
    default:
      return -EINVAL;
  }
}

const taskState = new WeakMap<Task, { subreaper: number }>();
function ps(t: Task) {
  let s = taskState.get(t);
  if (!s) taskState.set(t, (s = { subreaper: 0 }));
  return s;
}

function prctl(t: Task): number {
  const op = t.argInt(0);
  const a = t.arg(1);
  switch (op) {
    case PR_SET_NAME: {
      const s = t.mm.readCBytes(a, 4096);
      if (s === null) return -EFAULT;
      t.comm = Buffer.from((s ?? new Uint8Array()).subarray(0, 15)).toString('latin1');
      return 0;
    }
    case PR_GET_NAME: {
      const b = new Uint8Array(16);
      b.set(Buffer.from(t.comm, 'latin1').subarray(0, 15));
      return t.mm.write(a, b) ? 0 : -EFAULT;
    }
    case PR_SET_PDEATHSIG:
      if (t.argInt(1) < 0 || t.argInt(1) > 64) return -EINVAL;
      t.pdeathSignal = t.argInt(1);
      return 0;
    case PR_GET_PDEATHSIG:
      return t.mm.writeU32(a, t.pdeathSignal) ? 0 : -EFAULT;
    case PR_GET_DUMPABLE:
      return t.tg.dumpable;
    case PR_SET_DUMPABLE:
      if (a > 1) return -EINVAL;
      t.tg.dumpable = a;
      return 0;
    case PR_SET_CHILD_SUBREAPER:
      ps(t).subreaper = a ? 1 : 0;
      return 0;
    case PR_GET_CHILD_SUBREAPER:
      return t.mm.writeU32(a, ps(t).subreaper) ? 0 : -EFAULT;
    case PR_GET_SECCOMP:
      return 0;
    case PR_GET_TID_ADDRESS:
      return t.mm.writeU64(a, t.clearChildTid) ? 0 : -EFAULT;
    case PR_SET_THP_DISABLE:
      return 0;
    case PR_SET_VMA:
      return setVmaName(t);
    case PR_SET_MM:
      return setMm(t);
    default:
      return credsPrctl(t, op) ?? -EINVAL;
  }
}

interface RlimitDefaults {
  [k: number]: { cur: number; max: number };
}
const INF = 2 ** 64 - 1;
const DEFAULT_RLIMITS: RlimitDefaults = {
  3: { cur: 8 * 1024 * 1024, max: INF }, // STACK
  7: { cur: 1024, max: 1024 * 1024 }, // NOFILE
};

function getLimit(t: Task, r: number): { cur: number; max: number } {
  return t.tg.rlimits.get(r) ?? DEFAULT_RLIMITS[r] ?? { cur: INF, max: INF };
}

function writeRlimit(t: Task, addr: number, l: { cur: number; max: number }): boolean {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, l.cur >= INF ? (1n << 64n) - 1n : BigInt(l.cur), true);
  dv.setBigUint64(8, l.max >= INF ? (1n << 64n) - 1n : BigInt(l.max), true);
  return t.mm.write(addr, b);
}

/** check_prlimit_permission: another process's limits need all its ids to be the caller's, or CAP_SYS_RESOURCE. */
function prlimitPermission(t: Task, target: Task): number {
  const c = t.creds;
  const o = target.creds;
  const same = [o.uid, o.euid, o.suid].every((u) => u === c.uid) && [o.gid, o.egid, o.sgid].every((g) => g === c.gid);
  return same || capable(c, CAP_SYS_RESOURCE) ? 0 : -EPERM;
}

/** fs.nr_open: no NOFILE limit above it, whatever the capabilities. */
const NR_OPEN = 1024 * 1024;

function prlimit(t: Task, pid: number, res: number, newAddr: number, oldAddr: number): number {
  if (res < 0 || res > 15) return -EINVAL;
  let target = t;
  if (pid !== 0 && pid !== t.pid) {
    const tg = t.pidns.groups.get(pid);
    if (!tg || !tg.alive) return -ESRCH;
    target = tg.leader;
    const perm = prlimitPermission(t, target);
    if (perm < 0) return perm;
  }
  const old = getLimit(target, res);
  if (oldAddr && !writeRlimit(t, oldAddr, old)) return -EFAULT;
  if (newAddr) {
    const b = t.mm.read(newAddr, 16);
    if (!b) return -EFAULT;
    const dv = new DataView(b.buffer);
    const cur = Number(dv.getBigUint64(0, true));
    const max = Number(dv.getBigUint64(8, true));
    if (cur > max) return -EINVAL;
    if (max > old.max && !capable(t.creds, CAP_SYS_RESOURCE)) return -EPERM;
    if (res === 7 && max > NR_OPEN) return -EPERM;
    target.tg.rlimits.set(res, { cur, max });
    if (res === 7) target.files.limit = Math.min(cur, 1024 * 1024);
    if (res === 0) watchCpuLimit(target.tg);
  }
  return 0;
}

function sysinfo(t: Task): number {
  const b = new Uint8Array(112);
  const dv = new DataView(b.buffer);
  const up = Math.floor((performance.now() - t.kernel.bootTime) / 1000);
  // The machine's memory (the container's limit); each address space counted once, not per thread.
  const total = t.kernel.machine.size().memBytes;
  const files = new Set<{ allocated: number }>();
  for (const x of t.kernel.allTasks()) if (x.state !== 'dead') files.add(x.mm.file); // the machine's, every namespace's
  let used = 0;
  for (const f of files) used += f.allocated;
  dv.setBigInt64(0, BigInt(up), true);
  dv.setBigUint64(32, BigInt(total), true);
  dv.setBigUint64(40, BigInt(Math.max(0, total - used)), true);
  dv.setUint16(80, Math.min(65535, [...t.kernel.allGroups()].length), true);
  dv.setUint32(104, 1, true);
  return t.mm.write(t.arg(0), b) ? 0 : -EFAULT;
}

function getrandom(t: Task): number {
  const len = Math.min(t.arg(1), 33554431);
  if (t.argU32(2) & ~7) return -EINVAL;
  const vs = t.mm.views(t.arg(0), len, true);
  if (!vs) return -EFAULT;
  for (const v of vs) randomFill(v);
  return len;
}

const refuse = () => -EPERM;

const UNSHARE_FLAGS = 0x10000 | 0x200 | 0x20000 | 0x800 | 0x100 | 0x400 | 0x40000 | 0x7c000000 | 0x80; // THREAD FS NEWNS SIGHAND VM FILES SYSVSEM, NEWUTS..NEWNET, NEWTIME
const NAMESPACES = 0x20000 | 0x7e000000 | 0x80;

/**
 * unshare(2): the fd table (CLONE_FILES) and the fs context (CLONE_FS) become the caller's own;
 * THREAD/SIGHAND/VM are no-ops for a single-threaded caller (EINVAL otherwise); new namespaces
 * are refused as without privilege (EPERM), as clone does.
 */
function unshare(t: Task): number {
  const f = t.argInt(0);
  if (f & ~UNSHARE_FLAGS) return -EINVAL;
  if (f & (0x10000 | 0x800 | 0x100) && t.tg.tasks.size > 1) return -EINVAL;
  if (f & NAMESPACES) return -EPERM;
  if (f & 0x400 && t.files.refs > 1) {
    const own = t.files.fork();
    t.files.release();
    t.files = own;
  }
  if (f & 0x200 && t.fs.refs > 1) {
    const own = t.fs.fork();
    t.fs.release();
    t.fs = own;
  }
  return 0;
}

export const sysMisc = {
  uname,
  arch_prctl: archPrctl,
  prctl,
  getrandom,
  getrlimit: (t: Task) => prlimit(t, 0, t.argInt(0), 0, t.arg(1)),
  setrlimit: (t: Task) => prlimit(t, 0, t.argInt(0), t.arg(1), 0),
  prlimit64: (t: Task) => prlimit(t, t.argInt(0), t.argInt(1), t.arg(2), t.arg(3)),
  sysinfo,
  sched_yield: () => 0,
  sched_getparam: (t: Task) => (t.mm.writeU32(t.arg(1), 0) ? 0 : -EFAULT),
  sched_getscheduler: () => 0,
  sched_get_priority_max: () => 0,
  sched_get_priority_min: () => 0,
  getcpu: (t: Task) => (t.arg(0) && !t.mm.writeU32(t.arg(0), 0)) || (t.arg(1) && !t.mm.writeU32(t.arg(1), 0)) ? -EFAULT : 0,
  personality: (t: Task) => (t.argU32(0) === 0xffffffff || t.argU32(0) === 0 ? 0 : -EINVAL),
  sethostname: (t: Task) => {
    if (!capable(t.creds, CAP_SYS_ADMIN)) return -EPERM;
    const len = t.arg(1);
    if (len > 64) return -EINVAL;
    const b = t.mm.read(t.arg(0), len);
    if (!b) return -EFAULT;
    t.kernel.hostname = Buffer.from(b).toString('latin1');
    return 0;
  },
  setdomainname: (t: Task) => {
    if (!capable(t.creds, CAP_SYS_ADMIN)) return -EPERM;
    const b = t.mm.read(t.arg(0), Math.min(t.arg(1), 64));
    if (!b) return -EFAULT;
    t.kernel.domainname = Buffer.from(b).toString('latin1');
    return 0;
  },
  // Refused: host-wide or privileged operations a container never gets in the sentry.
  mount: refuse,
  umount2: refuse,
  pivot_root: refuse,
  reboot: refuse,
  kexec_load: refuse,
  kexec_file_load: refuse,
  init_module: refuse,
  finit_module: refuse,
  delete_module: refuse,
  swapon: refuse,
  swapoff: refuse,
  iopl: refuse,
  ioperm: refuse,
  acct: refuse,
  settimeofday: refuse,
  clock_settime: refuse,
  adjtimex: refuse,
  clock_adjtime: refuse,
  syslog: refuse,
  quotactl: refuse,
  vhangup: refuse,
  unshare,
  setns: refuse,
  bpf: refuse,
  perf_event_open: refuse,
  keyctl: refuse,
  add_key: refuse,
  request_key: refuse,
  lookup_dcookie: refuse,
  process_vm_readv: refuse,
  process_vm_writev: refuse,
  kcmp: refuse,
  userfaultfd: refuse,
  open_by_handle_at: refuse,
  name_to_handle_at: refuse,
  fanotify_init: refuse,
  // Not offered: glibc falls back without them.
  rseq: () => -38,
};
