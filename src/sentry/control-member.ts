// The control socket's requests about a running container of the pod (docs/sentry.md#pods), each
// on a connection of its own with no fds: `stats` (the sentry's own accounting of the container:
// kernel/container-stats.ts), `pause` and `resume` (Kernel.freeze/thaw). Answered by one JSON line,
// {"stats":{…}} or {"ok":true}, or {"error":"…"}. Pure: the sentry parses the request here, the
// shim (src/shim/sentry-pod.ts) the answer; neither trusts the other's bytes.

import { isContainerId } from './control-wire';

export type MemberRequestType = 'stats' | 'pause' | 'resume';

export interface MemberRequestWire {
  type: MemberRequestType;
  /** The container's id, as its `container` request named it (never the sandbox: its cgroups say). */
  container: string;
}

/** The stats answer: nanoseconds as decimal strings (they pass 2^53), the rest as numbers. */
export interface MemberStatsWire {
  cpuUserNs: string;
  cpuSystemNs: string;
  memoryBytes: number;
  tasks: number;
  oomKills: number;
}

/** The longest answer line the shim reads (the stats line is ~150 bytes). */
export const MAX_MEMBER_REPLY = 4096;

const TYPES: readonly string[] = ['stats', 'pause', 'resume'];

export function isMemberRequestType(v: unknown): v is MemberRequestType {
  return typeof v === 'string' && TYPES.includes(v);
}

/** A parsed request whose type is stats, pause or resume, checked field by field. */
export function memberRequestOf(v: Record<string, unknown>): MemberRequestWire | string {
  if (!isMemberRequestType(v.type)) return 'request.type: must be "stats", "pause" or "resume"';
  if (!isContainerId(v.container)) return 'request.container: a container id (letters, digits, _ . -; at most 128)';
  for (const k of Object.keys(v)) if (k !== 'type' && k !== 'container') return `request.${k}: not a field of a ${v.type} request`;
  return { type: v.type, container: v.container };
}

const NS = /^\d{1,20}$/;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export interface MemberStats {
  cpuUserNs: bigint;
  cpuSystemNs: bigint;
  memoryBytes: number;
  tasks: number;
  oomKills: number;
}

/** The sentry's stats answer, checked: the figures, or the error naming the field. */
export function memberStatsOf(v: unknown): MemberStats | string {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'answer: not an object';
  const r = v as Record<string, unknown>;
  if (typeof r.error === 'string') return r.error.slice(0, 1024);
  const s = r.stats;
  if (typeof s !== 'object' || s === null || Array.isArray(s)) return 'answer.stats: an object';
  const f = s as Record<string, unknown>;
  for (const k of ['cpuUserNs', 'cpuSystemNs'] as const) {
    if (typeof f[k] !== 'string' || !NS.test(f[k] as string) || BigInt(f[k] as string) > 18446744073709551615n) return `answer.stats.${k}: nanoseconds as a decimal u64`;
  }
  for (const k of ['memoryBytes', 'tasks', 'oomKills'] as const) if (!isCount(f[k])) return `answer.stats.${k}: a count`;
  return {
    cpuUserNs: BigInt(f.cpuUserNs as string), cpuSystemNs: BigInt(f.cpuSystemNs as string),
    memoryBytes: f.memoryBytes as number, tasks: f.tasks as number, oomKills: f.oomKills as number,
  };
}

/** The sentry's side: the stats answer on the wire. */
export function memberStatsWire(s: MemberStats): MemberStatsWire {
  return { cpuUserNs: s.cpuUserNs.toString(), cpuSystemNs: s.cpuSystemNs.toString(), memoryBytes: s.memoryBytes, tasks: s.tasks, oomKills: s.oomKills };
}
