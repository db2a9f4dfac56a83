// moat's command line: global flags, then one command. Each command lives in its own file and is
// loaded only when used, so `moat state` does not pay for `moat run`.

import { Runtime } from '../runtime/lifecycle';
import { LockBusy } from '../state/store';
import { sweepStaleDo } from '../runtime/sweep';
import { defaultRoot } from '../state/default-root';
import { configureLog, logError, writeStderr } from '../util/log';
import { writeStdout } from '../util/stdout';
import { callerPath } from '../util/caller';
import { MoatError, messageOf } from '../util/errors';
import { bool, lenientLogFlags, parseArgs, str } from './args';
import type { Command, CommandContext, GlobalOptions } from './context';
import { mark } from '../util/profile';

declare const MOAT_VERSION: string;
const VERSION = typeof MOAT_VERSION === 'string' ? MOAT_VERSION : '0.0.0-dev';

const COMMANDS: Record<string, () => Command> = {
  spec: () => require('./spec').specCommand,
  create: () => require('./create').createCommand,
  start: () => require('./start').startCommand,
  state: () => require('./state').stateCommand,
  kill: () => require('./kill').killCommand,
  delete: () => require('./delete').deleteCommand,
  run: () => require('./run').runCommand,
  list: () => require('./list').listCommand,
  features: () => require('./features').featuresCommand,
  pause: () => require('./pause').pauseCommand,
  resume: () => require('./resume').resumeCommand,
  update: () => require('./update').updateCommand,
  ps: () => require('./ps').psCommand,
  events: () => require('./events').eventsCommand,
  do: () => require('./do').doCommand,
  'sentry-syscalls': () => require('./sentry-syscalls').sentrySyscallsCommand,
  exec: () => require('./exec').execCommand,
  service: () => require('./service').serviceCommand,
  // Internal (not in --help): the relay of an exec --detach into a sentry sandbox (src/sentry/container.ts).
  'sentry-exec-relay': () => async () => {
    const code = await (require('../sentry/container') as typeof import('../sentry/container')).execRelayMain();
    process.exit(code);
  },
  // Internal (not in --help): the relay of an exec into a vm container (src/vm/exec.ts).
  'vm-exec-relay': () => async () => {
    const code = await (require('../vm/exec') as typeof import('../vm/exec')).execRelayMain();
    // A read of the terminal may still be pending in libuv's pool: do not wait for it.
    process.exit(code);
  },
};

export const GLOBAL_FLAGS = [
  { name: 'root', type: 'string' },
  { name: 'log', type: 'string' },
  { name: 'log-format', type: 'string' },
  { name: 'debug', type: 'bool' },
  { name: 'systemd-cgroup', type: 'bool' },
  { name: 'isolation', type: 'string' },
  { name: 'vm-accel', type: 'string' },
  { name: 'strace', type: 'bool' },
  { name: 'version', alias: 'v', type: 'bool' },
  { name: 'help', alias: 'h', type: 'bool' },
  { name: 'criu', type: 'string' },
  { name: 'rootless', type: 'string' },
] as const;

const HELP = `moat ${VERSION} — a secure OCI container runtime

usage: moat [global flags] COMMAND [flags] [args]

global flags:
  --root DIR           state directory (default /run/moat; rootless: $XDG_RUNTIME_DIR/moat)
  --log FILE           also write log records to FILE
  --log-format F       text (default) or json
  --isolation P        native (default), sentry or vm
  --strace             sentry platform: log every application syscall with its arguments and result (stderr)
  --vm-accel A         vm platform: auto (default: KVM if it boots the guest, else TCG), kvm or tcg
  --debug              print the executor plan and debug records
  --systemd-cgroup     cgroupsPath is slice:prefix:name
  --version

commands:
  do        run a command sandboxed over a read-only view of the host (no bundle needed)
  spec      write a template config.json
  create    create a container from a bundle; its process waits for start
  start     start a created container
  run       create and start; exits with the container's exit code
  state     print a container's state JSON
  exec      run another process in a running container
  kill      send a signal to a container
  delete    delete a container
  list      list containers
  pause     freeze every process of a container (cgroup freezer)
  resume    thaw a paused container
  update    change a container's resource limits (cgroups)
  ps        list a container's processes
  events    print a container's resource usage (stats), once or every interval
  features  print supported features as JSON
  service   serve these commands from one resident process (opt-in; docs/cli-speed.md)
`;


export async function main(argv: string[]): Promise<number> {
  let g;
  try {
    g = parseArgs(argv, [...GLOBAL_FLAGS], { stopAtPositional: true });
  } catch (err) {
    const early = lenientLogFlags(argv);
    if (early.log !== undefined) configureLog({ file: callerPath(early.log), format: early.logFormat === 'json' ? 'json' : 'text', debug: false });
    logError(messageOf(err));
    return 2;
  }
  const logFormat = str(g, 'log-format') ?? 'text';
  const global: GlobalOptions = {
    root: callerPath(str(g, 'root') ?? defaultRoot()),
    logFormat: logFormat === 'json' ? 'json' : 'text',
    debug: bool(g, 'debug'),
    systemdCgroup: bool(g, 'systemd-cgroup'),
  };
  const logFlag = str(g, 'log');
  const log = logFlag === undefined ? undefined : callerPath(logFlag);
  if (log !== undefined) global.log = log;
  const isolation = str(g, 'isolation');
  if (isolation !== undefined) global.isolation = isolation;
  const vmAccel = str(g, 'vm-accel');
  if (vmAccel !== undefined) global.vmAccel = vmAccel;
  if (bool(g, 'strace')) global.strace = true;
  configureLog({ ...(log !== undefined ? { file: log } : {}), format: global.logFormat, debug: global.debug });
  if (logFormat !== 'text' && logFormat !== 'json') {
    logError(`--log-format: unknown format ${JSON.stringify(logFormat)} (text or json)`);
    return 2;
  }
  if (bool(g, 'version')) {
    writeStdout(`moat version ${VERSION}\nspec: 1.2.0\n`);
    return 0;
  }
  const [name, ...rest] = g.positionals;
  if (bool(g, 'help') || name === undefined || name === 'help') {
    writeStdout(HELP);
    return name === undefined && !bool(g, 'help') ? 2 : 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    logError(`unknown command ${JSON.stringify(name)} (see moat --help)`);
    return 2;
  }
  let runtime: Runtime | undefined;
  const ctx: CommandContext = {
    global,
    argv: rest,
    runtime: () => {
      if (runtime) return runtime;
      runtime = new Runtime({ root: global.root, isolation: global.isolation, systemdCgroup: global.systemdCgroup, ...(global.vmAccel !== undefined ? { vmAccel: global.vmAccel } : {}), ...(global.strace ? { strace: true } : {}) });
      // `moat do` sandboxes whose runner was killed (SIGKILL) leave their state: cleared here.
      sweepStaleDo(runtime);
      return runtime;
    },
  };
  mark('flags parsed');
  const command = load();
  mark(`${name} loaded`);
  try {
    return await command(ctx);
  } catch (err) {
    if (err instanceof LockBusy) throw err; // moat service: runs the command again (src/state/store.ts)
    if (err instanceof MoatError) {
      logError(err.message);
      return err.code === 'EUSAGE' ? 2 : err.code === 'EEXEC' ? 127 : 1;
    }
    logError(`internal error: ${messageOf(err)}`);
    if (global.debug && err instanceof Error && err.stack) writeStderr(err.stack + '\n');
    return 1;
  }
}
