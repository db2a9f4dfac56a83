// The namespace holder of a vm container whose spec has create-time hooks (docs/vm.md#networking,
// as Kata orders it): prestart/createRuntime hooks run BEFORE QEMU boots, with this process as the
// state's pid. It sits in the network namespace QEMU will run in (a new one, or the spec's path),
// so what a hook does to /proc/<pid>/ns/net — Docker's moves the container's veth there and
// configures it — is in place when moat reads the namespace's interfaces and boots the VM with
// them. It only sleeps; moat kills it once QEMU holds the namespace (or on any failure), and
// `delete` kills it (the state's pid until QEMU's replaces it) if moat died meanwhile.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { readProcStat } from '../state/process';
import { killAndWait } from '../runtime/processes';
import { MoatError } from '../util/errors';

export interface NetnsHolder {
  pid: number;
  startTime: string;
  /** /proc/<pid>/ns/net: where QEMU is spawned (nsenter) and the interfaces are read. */
  netns: string;
  stop(): void;
}

/** How long the holder may take to be in its namespace (an exec of unshare and sleep). */
const READY_MS = 10_000;

/**
 * Starts the holder: in a new network namespace (`join` undefined), in the namespace at `join`, or
 * (`join` null: the spec shares the host's) in the host's. Detached: the caller's terminal signals
 * do not reach it.
 */
export async function startNetnsHolder(join: string | undefined | null): Promise<NetnsHolder> {
  const sleep = ['sleep', 'infinity'];
  const [bin, args] = join === undefined ? ['unshare', ['--net', '--', ...sleep]] : join === null ? [sleep[0]!, sleep.slice(1)] : ['nsenter', [`--net=${join}`, '--', ...sleep]];
  const child = spawn(bin!, args as string[], { stdio: 'ignore', detached: true });
  child.unref();
  const failed = new Promise<never>((_, reject) => child.once('error', (err) => reject(new MoatError('ESETUP', `the network namespace holder (${bin}): ${err.message}`))));
  failed.catch(() => undefined);
  const pid = await Promise.race([new Promise<number>((r) => (child.pid !== undefined ? r(child.pid) : child.once('spawn', () => r(child.pid!)))), failed]);
  const netns = `/proc/${pid}/ns/net`;
  // In place once the exec chain has reached sleep (unshare and nsenter exec it after the setns).
  const want = join === undefined ? undefined : fs.readlinkSync(join ?? '/proc/self/ns/net');
  const mine = fs.readlinkSync('/proc/self/ns/net');
  const deadline = Date.now() + READY_MS;
  let startTime = '';
  for (;;) {
    const st = readProcStat(pid);
    if (!st || child.exitCode !== null || child.signalCode !== null) {
      throw new MoatError('ESETUP', `the network namespace holder (${bin} ${args.join(' ')}) exited at once (status ${child.exitCode ?? child.signalCode})`);
    }
    startTime = st.startTime;
    let comm = '';
    let ns = '';
    try {
      comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      ns = fs.readlinkSync(netns);
    } catch {
      // between execs
    }
    if (comm === 'sleep' && (want === undefined ? ns !== mine : ns === want)) break;
    if (Date.now() > deadline) {
      killAndWait(pid, startTime);
      throw new MoatError('ESETUP', `the network namespace holder (${bin}) was not in place within ${READY_MS / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return { pid, startTime, netns, stop: () => killAndWait(pid, startTime) };
}
