// The control socket's requests as JSON (src/sentry/control.ts): an exec's process, checked field by
// field; a pod container's request (control-container.ts) has the same process fields. Pure: no
// kernel, so the host side and the tests use it too.

import { capsFromWire, type CapsWire } from './config';

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** A container id as the control socket takes it (a pod container's, an exec's `container`). */
export function isContainerId(v: unknown): v is string {
  return typeof v === 'string' && CONTAINER_ID.test(v);
}

export interface ExecRequestWire {
  type: 'exec';
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  groups: number[];
  caps?: CapsWire;
  noNewPrivs?: boolean;
  /** A container of the pod (started by a `container` request) to run in; absent: the sandbox's. */
  container?: string;
}

const MAX_ARGS = 4096;

function isStringArray(v: unknown, max: number): v is string[] {
  return Array.isArray(v) && v.length <= max && v.every((s) => typeof s === 'string' && !s.includes('\0') && s.length < 131072);
}

function isId(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 0xffffffff;
}

/** The control socket's JSON request, parsed: an object, or the error naming what it is not. */
export function parseRequestJson(raw: Buffer): Record<string, unknown> | string {
  let v: unknown;
  try {
    v = JSON.parse(raw.toString('utf8'));
  } catch {
    return 'request: not JSON';
  }
  if (typeof v !== 'object' || v === null) return 'request: not an object';
  return v as Record<string, unknown>;
}

export function parseExecRequest(raw: Buffer): ExecRequestWire | string {
  const r = parseRequestJson(raw);
  if (typeof r === 'string') return r;
  if (r.type !== 'exec') return 'request.type: must be "exec"';
  return parseProcessFields(r);
}

/** The fields of a process (an exec's, a pod container's init's), each checked. */
export function parseProcessFields(r: Record<string, unknown>): ExecRequestWire | string {
  if (!isStringArray(r.args, MAX_ARGS) || r.args.length === 0) return 'request.args: a non-empty array of strings';
  if (!isStringArray(r.env, MAX_ARGS)) return 'request.env: an array of strings';
  if (typeof r.cwd !== 'string' || !r.cwd.startsWith('/')) return 'request.cwd: an absolute path';
  if (!isId(r.uid) || !isId(r.gid)) return 'request.uid/gid: integers';
  if (!Array.isArray(r.groups) || !r.groups.every(isId) || r.groups.length > 65536) return 'request.groups: an array of ids';
  const out: ExecRequestWire = { type: 'exec', args: r.args, env: r.env, cwd: r.cwd, uid: r.uid, gid: r.gid, groups: r.groups as number[] };
  if (r.caps !== undefined) {
    const c = capsFromWire(r.caps, 'request.caps');
    if (typeof c === 'string') return c;
    out.caps = r.caps as CapsWire;
  }
  if (r.noNewPrivs !== undefined && typeof r.noNewPrivs !== 'boolean') return 'request.noNewPrivs: a boolean';
  if (r.noNewPrivs === true) out.noNewPrivs = true;
  if (r.container !== undefined) {
    if (!isContainerId(r.container)) return 'request.container: a container id';
    out.container = r.container;
  }
  return out;
}

