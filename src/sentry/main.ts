// The sentry process: moat's user-space kernel for one container. Started by the sentry
// platform (platform.ts) with a JSON configuration; its pid is the container's pid, its exit
// status is the container init's.
//
//   node build/sentry.js <config.json>      (goferFd: the gofer's socket; without one, the sentry
//                                            starts a gofer over the rootfs itself)

// First: MOAT_PROFILE=1's marks (src/util/profile.ts) start when this bundle's first module runs.
import { mark, profileLabel, profileWallOnly } from '../util/profile';
import { errnoName } from './abi/errno';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Kernel } from './kernel/kernel';
import { newPlatform } from './platform';
import { linuxSyscalls, registerAll, straceTracer } from './syscalls/linux';
import { FdTable, HostStreamFile, Vfs } from './vfs';
import { O_RDONLY, O_RDWR, O_WRONLY } from './vfs/constants';
import { spawnGofer } from './gofer';
import { capsFromWire, type SentryConfig } from './config';
import { initialCreds } from './kernel/creds';
import { ControlServer } from './control';
import { SentryReporter } from './report';
import { logRecord } from '../util/log';
import { ptraceSys } from './platform/ptrace/native';
import { consoleForeground } from './vfs/host-stream';
import { enterNetwork } from './net/netns';
import { registerNetFamilies } from './net';
import { confineSentry, KEPT_CAPS } from './confine';
import { runForbiddenCallHook } from './confine/test-hook';
import { readHostFacts } from './host-facts';
import { vsyscallEnabled } from './kernel/vsyscall';
import { holdNetFiles, showSentryUidAsRoot } from './vfs/proc/net';
import { Machine } from './kernel/machine';
import { SANDBOX_UID_BASE, SANDBOX_UID_COUNT } from '../state/sandbox-uid';
import { startCpuProfile } from './cpu-profile';

const FORWARDED = [1, 2, 3, 10, 12, 14, 15, 18, 20, 21, 22, 23, 28]; // HUP INT QUIT USR1 USR2 ALRM TERM CONT TSTP TTIN TTOU URG WINCH

function fail(msg: string): never {
  process.stderr.write(`moat sentry: ${msg}\n`);
  process.exit(127);
}

export function sentryMain(argv: string[]): void {
  profileLabel('moat sentry profile');
  mark('modules evaluated');
  awaitConfig();
  const cfgPath = argv[0];
  if (!cfgPath) fail('usage: sentry <config.json>');
  let cfg: SentryConfig;
  try {
    cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8')) as SentryConfig;
  } catch (e) {
    fail(`cannot read ${cfgPath}: ${(e as Error).message}`);
  }
  joinCgroups(cfg.cgroupProcs ?? []);
  const machineFd = openMachineFile(cfg.machineFile);
  registerAll();
  mark('syscalls registered');
  // `moat do`: the sandbox goes with its runner, even one killed by SIGKILL (its stubs die with the
  // sentry, its gofer at the end of its channel; the runner's state is swept by the next moat).
  if (cfg.dieWithParent !== undefined && ptraceSys().dieWithParent(cfg.dieWithParent) !== 0) fail('the moat do that started this sandbox is gone');
  // A container joining another's UTS namespace (a CRI pod's: its spec has a `uts` path and no
  // hostname) is named as that namespace is.
  let hostname = cfg.hostname ?? '';
  if (cfg.utsPath) {
    const h = ptraceSys().utsJoin(cfg.utsPath);
    if (typeof h === 'number') fail(`uts namespace ${cfg.utsPath}: setns: ${errnoName(h)}`);
    if (!hostname) hostname = h;
  }
  // The sentry needs no System V IPC or host name of the host's: leave them (as root; the stubs it
  // starts inherit the empty namespaces). The network is the container's namespace (net/netns.ts):
  // the sentry serves the sandbox's sockets with host sockets there.
  ptraceSys().unshare(0x08000000 | 0x04000000);
  // Its own UTS namespace carries the sandbox's host name, for a container that joins it (above).
  if (hostname && hostname.length <= 64) ptraceSys().setHostname(hostname);
  const netErr = enterNetwork(cfg.network);
  if (netErr) fail(netErr);
  // The namespaces are the sandbox's from here on: tell `create` (which waits for this before it
  // reports the pid and runs the prestart hooks, e.g. Docker's, that set up /proc/<pid>/ns/net).
  const readyFd = Number(process.env.MOAT_SENTRY_READY_FD);
  if (Number.isInteger(readyFd) && readyFd > 2) {
    try {
      fs.writeSync(readyFd, 'n');
    } catch {
      // create gave up waiting: nothing to tell
    }
    fs.closeSync(readyFd);
  }
  mark('namespaces entered');
  // Denied destinations (egress policy) and the like: moat's --log, and stderr under --strace.
  registerNetFamilies(cfg.egress, (line) => {
    if (cfg.strace) process.stderr.write(`moat sentry: ${line}\n`);
    logRecord('warning', `sentry: ${line}`, { type: 'sentry-network' });
  });
  // The tracer and the stubs it spawns on one CPU: a syscall round trip is then a context switch,
  // not two cross-CPU wake-ups (4-6x cheaper here). MOAT_SENTRY_PIN=0 leaves scheduling alone.
  const pin = ptraceSys();
  const cpu = process.env.MOAT_SENTRY_PIN !== '0' ? pin.pinCpu() : -1;
  const platform = newPlatform('ptrace');
  const stubAdj = cfg.stubOomScoreAdj === undefined ? undefined : preferStubsForOom(cfg.stubOomScoreAdj);
  platform.forwardHostSignals(FORWARDED);
  const goferFd = goferChannel(cfg);
  // The gofer answers on the same CPU: its round trips are context switches too.
  const goferPid = Number(process.env.MOAT_GOFER_PID);
  if (cpu >= 0 && Number.isInteger(goferPid) && goferPid > 0) pin.pinPid(goferPid, cpu);
  const caps = cfg.caps === undefined ? undefined : capsFromWire(cfg.caps, 'caps');
  if (typeof caps === 'string') fail(`config: ${caps}`);
  const creds = initialCreds(cfg.uid, cfg.gid, cfg.groups ?? [], caps, cfg.noNewPrivs === true);
  const machine = new Machine(machineFd);
  const vfs = new Vfs({ rootfs: cfg.rootfs, goferFd, readonly: cfg.readonlyRootfs ?? false, mounts: cfg.mounts ?? [], cpus: machine.size().cpus });
  const tracer = cfg.strace ? straceTracer((line: string) => process.stderr.write(`${line}\n`)) : undefined;
  const reporter = new SentryReporter(cfg.logFile, cfg.moatLog, cfg.strace === true);
  const kernel = new Kernel({
    platform,
    vfs,
    syscalls: linuxSyscalls,
    ...(tracer ? { tracer } : {}),
    onInternalError: (syscall, message, detail) => reporter.onInternalError(syscall, message, detail),
    onUnimplemented: (name, nr) => reporter.onUnimplemented(name, nr),
    hostname: hostname || 'moat',
    creds,
    rlimits: new Map((cfg.rlimits ?? []).map((r) => [r.resource, { cur: r.soft, max: r.hard }])),
    machine,
  });
  const files = stdio(vfs);
  mark('kernel built');
  if (cfg.terminal) {
    // The pty is the sentry's controlling terminal: ^C reaches the sentry, which passes it on to
    // the sandbox's foreground process group.
    ptraceSys().setCtty(0);
    kernel.terminalForeground = () => consoleForeground() || (kernel.init?.pgid ?? 0);
  }
  // moat exec: the control socket, accepted from the first turn of the loop.
  let control: ControlServer | undefined;
  if (cfg.controlSocket) {
    try {
      control = new ControlServer(kernel, cfg.controlSocket);
    } catch (e) {
      process.stderr.write(`moat sentry: control socket ${cfg.controlSocket}: ${(e as Error).message}\n`);
    }
  }
  if (cfg.startFifo) {
    // create → start: wait here until `moat start` opens the fifo.
    const fd = fs.openSync(cfg.startFifo, 'w');
    fs.writeSync(fd, '0');
    fs.closeSync(fd);
  }
  mark('start fifo written');
  // Start-up is over: what the sentry needs of the host is open. Confine it before the
  // application's first instruction (confine/).
  readHostFacts();
  vsyscallEnabled();
  holdNetFiles();
  reporter.holdFiles();
  // Opened now, before confinement; written at the end (shim delete after a killed server reads it).
  const statusFd = cfg.statusFile !== undefined ? fs.openSync(cfg.statusFile, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o600) : undefined;
  const hostUid = sandboxUid(cfg.hostUid);
  if (hostUid !== undefined) showSentryUidAsRoot(hostUid);
  platform.prepare({ ...(hostUid !== undefined ? { stubUid: hostUid, stubCaps: KEPT_CAPS } : {}), ...(stubAdj !== undefined ? { oomScoreAdj: stubAdj } : {}) });
  mark('template stub ready');
  profileWallOnly();
  if (platform.vdsoRefused && cfg.strace) process.stderr.write(`moat sentry: no vDSO for the application: ${platform.vdsoRefused}\n`);
  const profile = startCpuProfile(process.env.MOAT_SENTRY_CPU_PROF);
  const measureLog = process.env.MOAT_SENTRY_SECCOMP === 'measure' ? process.env.MOAT_SENTRY_SECCOMP_LOG : undefined;
  const confineErr = confineSentry({
    rootDir: path.dirname(path.resolve(cfgPath)),
    ...(measureLog ? { measureLog } : {}),
    ...(hostUid !== undefined ? { hostUid } : {}),
    ...(cfg.dieWithParent !== undefined ? { dieWithParent: cfg.dieWithParent } : {}),
  });
  if (confineErr) fail(confineErr);
  mark('confined');
  const hookErr = runForbiddenCallHook();
  if (hookErr) fail(hookErr);
  const searchPath = cfg.env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  const file = vfs.lookPath(cfg.args[0] ?? '', searchPath, creds) ?? cfg.args[0];
  const r = kernel.startInit(file, cfg.args, cfg.env, cfg.cwd || '/', files);
  if (r < 0) {
    fail(`exec ${JSON.stringify(cfg.args[0])}: ${errnoText(r)}`);
  }
  mark('init exec\'d');
  const status = kernel.run();
  mark('init exited');
  profile?.stop();
  control?.close();
  kernel.shutdown();
  reporter.finish();
  const code = (status & 0x7f) !== 0 ? 128 + (status & 0x7f) : (status >> 8) & 0xff;
  if (statusFd !== undefined) fs.writeSync(statusFd, `${code}\n`);
  process.exit(code);
}

/**
 * The platform starts the sentry before its configuration file is complete (container.ts: its
 * Node start overlaps the cgroups and the rest) and says so with one byte on MOAT_SENTRY_CONFIG_FD;
 * without the variable (run by hand, the cache's training) the file is there already.
 */
function awaitConfig(): void {
  const fd = Number(process.env.MOAT_SENTRY_CONFIG_FD);
  if (!Number.isInteger(fd) || fd <= 2) return;
  const b = Buffer.alloc(1);
  let n = -1;
  while (n < 0) {
    try {
      n = fs.readSync(fd, b, 0, 1, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EINTR' && code !== 'EAGAIN') fail(`configuration fd ${fd}: ${(e as Error).message}`);
      if (code === 'EAGAIN') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
  fs.closeSync(fd);
  // EOF: the runtime failed before the configuration was complete (it kills this process too).
  if (n !== 1) fail('the runtime gave up before the configuration was written');
  mark('configuration ready');
}

/** The config's hostUid, checked: one of the sandbox range's (src/state/sandbox-uid.ts), never root. */
function sandboxUid(uid: number | undefined): number | undefined {
  if (uid === undefined) return undefined;
  if (!Number.isInteger(uid) || uid < SANDBOX_UID_BASE || uid >= SANDBOX_UID_BASE + SANDBOX_UID_COUNT) fail(`config: hostUid: ${uid} is not a sandbox uid`);
  return uid;
}

/** Move this process into the container's cgroups (before any stub exists: they are born there). */
function joinCgroups(files: string[]): void {
  for (const file of files) {
    if (!file.startsWith('/sys/fs/cgroup/') || !file.endsWith('/cgroup.procs') || file.includes('/../')) fail(`config: cgroupProcs: ${file}: not a cgroup.procs file`);
    try {
      fs.writeFileSync(file, '0');
    } catch (e) {
      fail(`cannot join the container's cgroup ${file}: ${(e as Error).message}`);
    }
  }
}

/** The sentry's oom_score_adj in its cgroup: the OOM killer takes every stub before it. */
const SENTRY_OOM_SCORE_ADJ = -999;
const OOM_SCORE_ADJ_MAX = 1000;

/**
 * The sentry lowers its own oom_score_adj, the stubs keep the application's; where lowering is not
 * allowed (no CAP_SYS_RESOURCE), the stubs are raised to the top instead (raising needs no
 * privilege). The application still reads its own value in the sandbox's /proc.
 */
function preferStubsForOom(stubAdj: number): number {
  if (!Number.isInteger(stubAdj) || stubAdj < -1000 || stubAdj > 1000) fail(`config: stubOomScoreAdj: ${stubAdj} is not in [-1000, 1000]`);
  try {
    fs.writeFileSync('/proc/self/oom_score_adj', String(SENTRY_OOM_SCORE_ADJ));
    return stubAdj;
  } catch {
    return OOM_SCORE_ADJ_MAX;
  }
}

/** The machine file, kept open: `moat update` rewrites it in place (kernel/machine.ts). */
function openMachineFile(file: string | undefined): number | undefined {
  if (file === undefined) return undefined;
  try {
    return fs.openSync(file, fs.constants.O_RDONLY);
  } catch (e) {
    fail(`cannot open the machine file ${file}: ${(e as Error).message}`);
  }
}

/**
 * The gofer channel: fd 3 from the platform, or (run directly, with no bind mounts) a gofer the
 * sentry starts itself over the rootfs. Either way the rootfs is only read through the gofer.
 */
function goferChannel(cfg: SentryConfig): number {
  if (cfg.goferFd !== undefined && cfg.goferFd >= 0) return cfg.goferFd;
  if ((cfg.mounts ?? []).some((m) => m.type !== 'tmpfs')) fail('bind mounts need the platform\'s gofer (goferFd)');
  try {
    return spawnGofer([cfg.rootfs]).fd;
  } catch (e) {
    fail(`gofer: ${(e as Error).message}`);
  }
}

/** fds 0-2: the sentry's own stdio. A terminal is read-write, and is the container's /dev/tty. */
function stdio(vfs: Vfs): FdTable {
  const files = new FdTable();
  const names = ['stdin', 'stdout', 'stderr'];
  for (let fd = 0; fd < 3; fd++) {
    let f = new HostStreamFile(fd, fd === 0 ? O_RDONLY : O_WRONLY, names[fd]);
    if (f.isTty) f = new HostStreamFile(fd, O_RDWR, names[fd]);
    if (f.isTty) vfs.setConsole(f);
    files.install(f, false);
  }
  return files;
}

function errnoText(r: number): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { errnoName } = require('./abi/errno') as typeof import('./abi/errno');
  const name = errnoName(r);
  const texts: Record<string, string> = { ENOENT: 'no such file or directory', EACCES: 'permission denied', ENOEXEC: 'exec format error' };
  return texts[name] ? `${texts[name]} (${name})` : name;
}

if (require.main === module) sentryMain(process.argv.slice(2));
