// Pods on the sentry through the shim (docs/shim.md#pods, docs/sentry.md#pods): the CRI sandbox
// container of a `sentry` handler starts the pod's sentry as any sentry container; each later
// container of the pod is started *in* that sentry through its control socket — its own gofer over
// its rootfs and volumes, its own mount tree, its own creds, capabilities, environment, cwd and
// rlimits — instead of a sentry of its own. Its stdio are containerd's FIFOs, handed to the
// sentry with the request; the connection stands for the container (signals, its exit status).

import * as fs from 'node:fs';
import type { Runtime } from '../runtime/lifecycle';
import type { Bundle } from '../spec/bundle';
import type { CgroupRecord } from '../state/store';
import { controlRequest, controlSocketPath, execThroughSocket, execWire, handoffFd, sentryConfig, startExecRelay } from '../sentry/container';
import type { ConsoleEndpoint } from '../runtime/terminal';
import { sys } from '../sys';
import type { ContainerRequestWire } from '../sentry/control-container';
import { MAX_MEMBER_REPLY, memberStatsOf, type MemberRequestWire } from '../sentry/control-member';
import type { CgroupStats } from '../policy/cgroups/stats';
import { spawnGofer, type GoferProcess } from '../sentry/gofer';
import { joinCgroups } from '../sentry/resources';
import type { Process } from '../spec/types';
import { MoatError } from '../util/errors';
import { CRI_SANDBOX_ID } from '../vm/cri-annotations';
import type { ShimTask } from './task';

/** The wait status of a process killed by SIGKILL. */
const SIGKILL_STATUS = 9;

/** The pod's sentry, as a later container of the pod reaches it. */
export interface PodSentry {
  /** Its control socket. */
  sock: string;
  /** The sentry's host pid: what the shim reports as a member's pid (as Kata's shim the VMM's). */
  pid: number;
  cgroups?: CgroupRecord;
}

export interface SentryMember {
  id: string;
  sentry: PodSentry;
  request: ContainerRequestWire;
  /** Its gofer (its rootfs and volumes); the shim's end of the channel until Start hands it over. */
  gofer: GoferProcess;
  goferFdOpen: boolean;
  /** Once started: a signal to its init (all: to every process of it), and the connection's end. */
  signal?: (sig: number, all: boolean) => void;
  close?: () => void;
  /** Paused by the shim (the sentry holds its tasks: Kernel.freeze) until resumed. */
  paused?: boolean;
}

/**
 * The sentry of a member's pod: its sandbox is a running sentry task of this server. None (the
 * container gets a sentry of its own, as before) when the sandbox is not here or not a sentry.
 */
export function podSentryOf(rt: Runtime, tasks: ReadonlyMap<string, ShimTask>, annotations: Record<string, string>): PodSentry | undefined {
  const sandboxId = annotations[CRI_SANDBOX_ID];
  const sandbox = sandboxId !== undefined ? tasks.get(sandboxId) : undefined;
  if (!sandbox || sandbox.pod || sandbox.sentryMember || sandbox.init.status !== 'running') return undefined;
  const { handle, rec } = rt.open(sandbox.id);
  handle.release();
  if (rec.platform !== 'sentry' || !rec.sentry || !rec.pid) return undefined;
  return { sock: controlSocketPath(rec.sentry.stateDir), pid: rec.pid, ...(rec.cgroups ? { cgroups: rec.cgroups } : {}) };
}

/** Create: the member's plan and its gofer (in the pod's cgroups); nothing runs in the sentry yet. */
export function createSentryMember(id: string, bundle: Bundle, sentry: PodSentry, strace: boolean): SentryMember {
  const p = bundle.spec.process;
  // (sentryConfig wants the console of a terminal: the shim's endpoint comes at Start.)
  const { cfg, trees } = sentryConfig({ bundle, startFifo: undefined }, { ...bundle.spec, process: { ...p, terminal: false } }, bundle.rootfs, strace);
  const request: ContainerRequestWire = {
    type: 'container', id,
    args: cfg.args, env: cfg.env, cwd: cfg.cwd, uid: cfg.uid, gid: cfg.gid, groups: cfg.groups ?? [],
    ...(cfg.caps ? { caps: cfg.caps } : {}), ...(cfg.noNewPrivs ? { noNewPrivs: true } : {}),
    rlimits: cfg.rlimits ?? [], readonlyRootfs: cfg.readonlyRootfs ?? false, mounts: cfg.mounts ?? [],
    sharePids: sharesPids(bundle),
    ...(p.terminal ? { terminal: true } : {}),
  };
  // A writable volume's identity: the pod's containers binding one directory share its socket files.
  for (const m of request.mounts) {
    const tree = m.type === 'tmpfs' ? undefined : trees[m.tree];
    if (m.type === 'tmpfs' || !m.writable || !tree || tree.file !== undefined) continue;
    const st = fs.statSync(tree.dir, { bigint: true });
    m.shareKey = `${st.dev}:${st.ino}`;
  }
  const gofer = spawnGofer(trees);
  if (sentry.cgroups) {
    try {
      joinCgroups(sentry.cgroups, gofer.pid);
    } catch (err) {
      fs.closeSync(gofer.fd); // the gofer exits on EOF
      throw err;
    }
  }
  return { id, sentry, request, gofer, goferFdOpen: true };
}

/**
 * Whether the container joins the pod's PID namespace: CRI gives a PID namespace of its own as a
 * `pid` entry without a path (CONTAINER, Kubernetes' default), the sandbox's as its path (POD:
 * shareProcessNamespace). Without an entry (NODE: the host's) it gets the pod's, the nearest the
 * sentry has.
 */
export function sharesPids(bundle: Bundle): boolean {
  const pid = (bundle.spec.linux?.namespaces ?? []).find((n) => n.type === 'pid');
  return !pid || Boolean(pid.path);
}

/**
 * Start: the container's init in the pod's sentry, with containerd's FIFOs as its stdio or (a
 * terminal) a pty whose slave the sentry gets and whose master goes to the console endpoint;
 * resolves with its exit code once it has run.
 */
export async function startSentryMember(m: SentryMember, io: { stdio?: readonly [number, number, number]; console?: ConsoleEndpoint }): Promise<{ exited: Promise<number> }> {
  if (!m.goferFdOpen) throw new MoatError('ESTATE', `container ${JSON.stringify(m.id)}: already started`);
  if (m.request.terminal ? !io.console : !io.stdio) throw new MoatError('EUSAGE', `container ${JSON.stringify(m.id)}: process.terminal and the task's terminal differ`);
  const pty = m.request.terminal ? sys().openPty(0, 0) : undefined;
  const stdio = pty ? [pty.slave, pty.slave, pty.slave] : io.stdio!;
  let run;
  try {
    // The pod's sentry gone without a word (killed with its sandbox): the container was killed (137).
    run = await execThroughSocket(m.sentry.sock, m.id, m.request, [...stdio, m.gofer.fd], SIGKILL_STATUS);
    if (pty) {
      try {
        sys().sendFd(handoffFd(io.console!.handoff), pty.master, pty.name);
      } catch (err) {
        run.close(); // no terminal for it: the sentry ends it (the connection is the container)
        throw err;
      }
    }
  } finally {
    // The sentry has its copy (or failed and closed it): ours would keep the gofer from its EOF.
    fs.closeSync(m.gofer.fd);
    m.goferFdOpen = false;
    if (pty) {
      fs.closeSync(pty.slave);
      fs.closeSync(pty.master);
    }
  }
  m.signal = (sig, all) => run.signalLine({ signal: sig, all });
  m.close = run.close;
  return { exited: run.exited };
}

/** A process exec'd in a member: a relay (src/runtime/exec-relay.ts) stands for it on the host. */
export function execInSentryMember(m: SentryMember, p: Process, stdio: readonly [number, number, number] | undefined): ReturnType<typeof startExecRelay> {
  if (p.terminal) throw new MoatError('EUSAGE', 'exec: terminals are not supported by the sentry platform yet');
  return startExecRelay(m.sentry.sock, m.id, { ...execWire(p), container: m.id }, stdio);
}

/** Delete: the sentry ends what is left of the container and closes its gofer's channel. */
export function removeSentryMember(m: SentryMember): void {
  if (m.goferFdOpen) {
    fs.closeSync(m.gofer.fd);
    m.goferFdOpen = false;
  }
  m.close?.();
}

/**
 * Stats of a member from the pod's sentry (its own accounting: src/sentry/kernel/container-stats.ts),
 * in the cgroup statistics' shape containerd's metrics are made of (src/shim/metrics.ts).
 */
export async function sentryMemberStats(m: SentryMember): Promise<CgroupStats> {
  const s = memberStatsOf(await controlRequest(m.sentry.sock, m.id, { type: 'stats', container: m.id } satisfies MemberRequestWire, MAX_MEMBER_REPLY));
  if (typeof s === 'string') throw new MoatError('ESTATE', `container ${JSON.stringify(m.id)}: stats from its pod's sentry: ${s}`);
  const u64 = (n: bigint) => (n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n);
  const none = { limit: 0, usage: 0, max: 0, failcnt: 0 };
  return {
    cpu: {
      usage: { total: u64(s.cpuUserNs + s.cpuSystemNs), kernel: u64(s.cpuSystemNs), user: u64(s.cpuUserNs) },
      throttling: { periods: 0, throttledPeriods: 0, throttledTime: 0 },
    },
    // No limit of its own: the pod's sentry is bounded as a whole (the sandbox's cgroups).
    memory: { cache: 0, usage: { ...none, usage: s.memoryBytes }, swap: none, raw: { rss: s.memoryBytes } },
    pids: { current: s.tasks, limit: 0 },
    blkio: { ioServiceBytesRecursive: [], ioServicedRecursive: [] },
    hugetlb: {},
  };
}

/** Pause (the sentry stops running its tasks, as a cgroup freezer) or resume a started member. */
export async function setSentryMemberPaused(m: SentryMember, paused: boolean): Promise<void> {
  const what = paused ? 'pause' : 'resume';
  if (!m.signal) throw new MoatError('ESTATE', `container ${JSON.stringify(m.id)}: not started: nothing to ${what}`);
  const r = await controlRequest(m.sentry.sock, m.id, { type: what, container: m.id } satisfies MemberRequestWire, MAX_MEMBER_REPLY);
  const ok = typeof r === 'object' && r !== null && (r as { ok?: unknown }).ok === true;
  if (!ok) {
    const err = typeof r === 'object' && r !== null && typeof (r as { error?: unknown }).error === 'string' ? (r as { error: string }).error.slice(0, 1024) : 'no answer';
    throw new MoatError('ESTATE', `container ${JSON.stringify(m.id)}: ${what} in its pod's sentry: ${err}`);
  }
  m.paused = paused;
}
