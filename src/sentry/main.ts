// The sentry process: moat's user-space kernel for one container. Started by the sentry
// platform (platform.ts) with a JSON configuration; its pid is the container's pid, its exit
// status is the container init's.
//
//   node build/sentry.js <config.json>      (fd 3: the gofer's socket, when there is one)

import * as fs from 'node:fs';
import { Kernel } from './kernel/kernel';
import { PtracePlatform } from './platform';
import { registerAll } from './syscalls/linux';
import { FdTable, HostStreamFile, Vfs } from './vfs';
import type { SentryConfig } from './config';
import { ControlServer } from './control';

const FORWARDED = [1, 2, 3, 10, 12, 14, 15, 18, 20, 21, 22, 23, 28]; // HUP INT QUIT USR1 USR2 ALRM TERM CONT TSTP TTIN TTOU URG WINCH

function fail(msg: string): never {
  process.stderr.write(`moat sentry: ${msg}\n`);
  process.exit(127);
}

export function sentryMain(argv: string[]): void {
  const cfgPath = argv[0];
  if (!cfgPath) fail('usage: sentry <config.json>');
  let cfg: SentryConfig;
  try {
    cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8')) as SentryConfig;
  } catch (e) {
    fail(`cannot read ${cfgPath}: ${(e as Error).message}`);
  }
  registerAll();
  const platform = new PtracePlatform();
  platform.hostSignals(FORWARDED);
  const vfs = new Vfs({ rootfs: cfg.rootfs, goferFd: cfg.goferFd ?? -1, readonly: cfg.readonlyRootfs ?? false, mounts: cfg.mounts ?? [] });
  const strace = cfg.strace ? (line: string) => process.stderr.write(`${line}\n`) : undefined;
  const kernel = new Kernel({
    platform,
    vfs,
    strace,
    onUnimplemented: (name, nr) => {
      // Once per syscall: to stderr under --strace, else to the sentry's log in the state directory.
      const line = `moat sentry: unimplemented syscall ${name} (${nr}): ENOSYS\n`;
      if (cfg.strace) process.stderr.write(line);
      else if (cfg.logFile) fs.appendFileSync(cfg.logFile, line);
    },
    hostname: cfg.hostname || 'moat',
    creds: { uid: cfg.uid, euid: cfg.uid, suid: cfg.uid, fsuid: cfg.uid, gid: cfg.gid, egid: cfg.gid, sgid: cfg.gid, fsgid: cfg.gid, groups: cfg.groups ?? [] },
    rlimits: new Map((cfg.rlimits ?? []).map((r) => [r.resource, { cur: r.soft, max: r.hard }])),
  });
  const files = new FdTable();
  files.install(new HostStreamFile(0, 0, 'stdin'), false);
  files.install(new HostStreamFile(1, 1, 'stdout'), false);
  files.install(new HostStreamFile(2, 1, 'stderr'), false);
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
  const r = kernel.startInit(cfg.args[0], cfg.args, cfg.env, cfg.cwd || '/', files);
  if (r < 0) {
    fail(`exec ${JSON.stringify(cfg.args[0])}: ${errnoText(r)}`);
  }
  const status = kernel.run();
  control?.close();
  kernel.shutdown();
  if ((status & 0x7f) !== 0) process.exit(128 + (status & 0x7f));
  process.exit((status >> 8) & 0xff);
}

function errnoText(r: number): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { errnoName } = require('./abi/errno') as typeof import('./abi/errno');
  const name = errnoName(r);
  const texts: Record<string, string> = { ENOENT: 'no such file or directory', EACCES: 'permission denied', ENOEXEC: 'exec format error' };
  return texts[name] ? `${texts[name]} (${name})` : name;
}

if (require.main === module) sentryMain(process.argv.slice(2));
