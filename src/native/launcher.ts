// Runs the C executor with a plan and reads its report (docs/executor-plan.md).

import { constants } from 'node:os';
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { executorPath } from '../sys';
import { MoatError } from '../util/errors';
import { encodePlan, type ExecutorPlan } from '../policy/plan';
import { readReportLine } from '../util/report-line';
import { mark } from '../util/profile';

export interface LaunchOptions {
  plan: ExecutorPlan;
  /** create: the executor exits once the init is ready. run: it stays and exits with the init's status. */
  mode: 'create' | 'run';
  /** Caller fds 3..3+preserveFds-1 are handed to the container. */
  preserveFds: number;
  /** Feed this to the process's stdin instead of inheriting moat's (hooks get the state JSON). */
  stdin?: Buffer;
  /** A connected unix socket (an fd of moat's, or a Socket) handed to the executor at consoleFd(). */
  console?: number | import('node:net').Socket;
  /** The process's stdin, stdout, stderr (fds of moat's) instead of moat's own (the shim's FIFOs). */
  stdio?: readonly [number, number, number];
  /** Run mode (`moat do`): the sandbox dies with this moat process, even by SIGKILL. */
  dieWithParent?: boolean;
  /** Run mode: the executor writes the container's exit status here (src/runtime/exit-record.ts). */
  statusFile?: string;
}

/** The executor-side fd number of the console socket, for the plan's console-setup op. */
export function consoleFd(preserveFds: number): number {
  return 3 + preserveFds + 2;
}

export interface Launched {
  /** The container init's pid. */
  pid: number;
  /** The executor's exit status: in run mode, the container's (code, or 128+signal). */
  exited: Promise<number>;
  executor: ChildProcess;
}

export async function launch(opts: LaunchOptions): Promise<Launched> {
  const planFd = 3 + opts.preserveFds;
  const reportFd = planFd + 1;
  const given: readonly (number | 'inherit')[] = opts.stdio ?? ['inherit', 'inherit', 'inherit'];
  const stdio: Exclude<StdioOptions, string> = [opts.stdin ? 'pipe' : given[0]!, given[1]!, given[2]!];
  for (let i = 0; i < opts.preserveFds; i++) stdio.push(3 + i);
  stdio.push('pipe', 'pipe');
  if (opts.console !== undefined) stdio.push(opts.console);
  const args = ['--plan-fd', String(planFd), '--report-fd', String(reportFd), '--mode', opts.mode];
  if (opts.dieWithParent) args.push('--die-with-parent', String(process.pid));
  if (opts.statusFile !== undefined) args.push('--status-file', opts.statusFile);
  mark('executor spawning');
  const child = spawn(executorPath(), args, {
    stdio,
    // Its own session: terminal signals reach moat, which forwards them; never twice.
    detached: true,
  });
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? signalNumber(signal) : 0)));
  });
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new MoatError('ENATIVE', `cannot run ${executorPath()}: ${err.message}`)));
  });
  const planPipe = child.stdio[planFd] as Writable;
  const reportPipe = child.stdio[reportFd] as Readable;
  planPipe.on('error', () => undefined); // EPIPE if the executor died early; the report says why
  planPipe.end(encodePlan(opts.plan));
  if (opts.stdin && child.stdin) {
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.stdin);
  }
  const line = await Promise.race([readReportLine(reportPipe, exited, (code) => `the executor exited (status ${code}) without reporting`), spawnError]);
  if (line.startsWith('pid ')) {
    const pid = Number(line.slice(4));
    if (!Number.isInteger(pid) || pid <= 0) throw new MoatError('EINTERNAL', `executor reported a bad pid: ${line}`);
    return { pid, exited, executor: child };
  }
  await exited;
  if (line.startsWith('error exec: "')) throw new MoatError('EEXEC', line.slice(6));
  if (line.startsWith('error ')) throw new MoatError('ESETUP', line.slice(6));
  throw new MoatError('ESETUP', line);
}

function signalNumber(name: NodeJS.Signals): number {
  return (constants.signals as Record<string, number>)[name] ?? 0;
}
