// The executor's instruction set (docs/executor-plan.md) as TypeScript types, and the encoder that
// turns a plan into the NUL-separated token stream `moat-exec` reads.

export type CreateKind = 'dir' | 'file' | 'none';

export type ParentOp =
  | { op: 'setns'; path: string; nstype: number }
  | { op: 'unshare'; flags: number }
  | { op: 'write'; path: string; data: string };

export type AfterCloneOp =
  | { op: 'child-write'; name: string; data: string }
  /** P: a detached clone of the mount at path, idmapped with C's user namespace; sent to C with go. */
  | { op: 'idmap-tree'; path: string; attrs: number };

export type ChildOp =
  | { op: 'setsid' }
  | { op: 'session-keyring'; name: string }
  | { op: 'setresgid'; r: number; e: number; s: number }
  | { op: 'setresuid'; r: number; e: number; s: number }
  | { op: 'mount'; src: string; target: string; fstype: string; flags: number; data: string }
  | { op: 'rootfs'; path: string }
  | { op: 'mountat'; src: string; dest: string; fstype: string; flags: number; data: string; create: CreateKind }
  | { op: 'mkdirat'; path: string; mode: number }
  | { op: 'mknodat'; path: string; mode: number; major: number; minor: number; uid: number; gid: number }
  | { op: 'symlinkat'; target: string; linkpath: string }
  | { op: 'open-start'; fifo: string }
  | { op: 'pivot-root' }
  | { op: 'move-root' }
  | { op: 'mask'; path: string }
  | { op: 'readonly'; path: string }
  | { op: 'remount-ro'; path: string }
  | { op: 'sethostname'; name: string }
  | { op: 'setdomainname'; name: string }
  /** Bring `lo` of the current (new) network namespace up. */
  | { op: 'loopback-up' }
  | { op: 'write-beneath'; base: string; relpath: string; data: string }
  | { op: 'rlimit'; resource: number; soft: number; hard: number }
  | { op: 'setgroups'; gids: number[] }
  | { op: 'umask'; mode: number }
  | { op: 'chdir'; path: string }
  | { op: 'no-new-privs' }
  | { op: 'cap-bounding'; mask: bigint }
  | { op: 'keep-caps'; on: boolean }
  | { op: 'capset'; effective: bigint; permitted: bigint; inheritable: bigint; ambient: bigint }
  /** program: 4 numbers per BPF instruction (code, jt, jf, k). */
  | { op: 'seccomp'; flags: number; program: number[] }
  /** Connect to a seccomp listener socket (before the pivot); for `seccomp-notify`. */
  | { op: 'seccomp-connect'; path: string }
  /** Like `seccomp` with NEW_LISTENER; sends the fd with state[0] + pid + state[1] + pid + ... */
  | { op: 'seccomp-notify'; flags: number; program: number[]; state: string[] }
  /** A pty from the current root's /dev/ptmx; the master goes out over the unix socket at fd. */
  | { op: 'console-setup'; fd: number; rows: number; cols: number; uid: number; gid: number }
  | { op: 'check-exec'; argv0: string; candidates: string[] }
  | { op: 'ready' }
  | { op: 'wait-start' }
  | { op: 'exec'; keep: number; candidates: string[]; argv: string[]; env: string[] }
  /** Attach the tree `idmap-tree` made at target (move_mount). */
  | { op: 'attach-tree'; target: string }
  /** Detach the mount at target (umount2 MNT_DETACH), before the pivot. */
  | { op: 'umount'; target: string };

/** A whole plan: what P does, the clone, what P does knowing the child, what the child does. */
export interface ExecutorPlan {
  parent: ParentOp[];
  cloneFlags: number;
  afterClone: AfterCloneOp[];
  child: ChildOp[];
}

export const PLAN_MAGIC = 'MOATPLAN1';

function fields(op: ParentOp | AfterCloneOp | ChildOp): (string | number | bigint | string[] | number[])[] {
  switch (op.op) {
    case 'setns':
      return [op.path, op.nstype];
    case 'unshare':
      return [op.flags];
    case 'write':
      return [op.path, op.data];
    case 'child-write':
      return [op.name, op.data];
    case 'idmap-tree':
      return [op.path, op.attrs];
    case 'attach-tree':
    case 'umount':
      return [op.target];
    case 'setsid':
    case 'pivot-root':
    case 'move-root':
    case 'no-new-privs':
    case 'ready':
    case 'wait-start':
    case 'loopback-up':
      return [];
    case 'setresgid':
    case 'setresuid':
      return [op.r, op.e, op.s];
    case 'mount':
      return [op.src, op.target, op.fstype, op.flags, op.data];
    case 'rootfs':
      return [op.path];
    case 'session-keyring':
      return [op.name];
    case 'mountat':
      return [op.src, op.dest, op.fstype, op.flags, op.data, op.create];
    case 'mkdirat':
      return [op.path, op.mode];
    case 'mknodat':
      return [op.path, op.mode, op.major, op.minor, op.uid, op.gid];
    case 'symlinkat':
      return [op.target, op.linkpath];
    case 'open-start':
      return [op.fifo];
    case 'mask':
    case 'readonly':
    case 'remount-ro':
      return [op.path];
    case 'sethostname':
    case 'setdomainname':
      return [op.name];
    case 'write-beneath':
      return [op.base, op.relpath, op.data];
    case 'rlimit':
      return [op.resource, op.soft, op.hard];
    case 'setgroups':
      return [op.gids];
    case 'umask':
      return [op.mode];
    case 'chdir':
      return [op.path];
    case 'exec':
      return [op.keep, op.candidates, op.argv, op.env];
    case 'cap-bounding':
      return [op.mask];
    case 'keep-caps':
      return [op.on ? 1 : 0];
    case 'capset':
      return [op.effective, op.permitted, op.inheritable, op.ambient];
    case 'seccomp':
      return [op.flags, op.program];
    case 'seccomp-connect':
      return [op.path];
    case 'seccomp-notify':
      return [op.flags, op.program, op.state];
    case 'check-exec':
      return [op.argv0, op.candidates];
    case 'console-setup':
      return [op.fd, op.rows, op.cols, op.uid, op.gid];
  }
}

function tokensOf(op: ParentOp | AfterCloneOp | ChildOp): string[] {
  const out: string[] = [op.op];
  for (const f of fields(op)) {
    if (Array.isArray(f)) {
      out.push(String(f.length), ...f.map(String));
    } else {
      out.push(String(f));
    }
  }
  return out;
}

/** Encode a plan for moat-exec. Strings containing NUL cannot be encoded and are refused. */
export function encodePlan(plan: ExecutorPlan): Buffer {
  const tokens: string[] = [PLAN_MAGIC];
  for (const op of plan.parent) tokens.push(...tokensOf(op));
  tokens.push('clone', String(plan.cloneFlags));
  for (const op of plan.afterClone) tokens.push(...tokensOf(op));
  tokens.push('go');
  for (const op of plan.child) tokens.push(...tokensOf(op));
  for (const t of tokens) {
    if (t.includes('\0')) throw new Error(`plan token contains NUL: ${JSON.stringify(t)}`);
  }
  return Buffer.from(tokens.join('\0') + '\0');
}

/** Human-readable rendering for `--debug` and test failure messages. */
export function describePlan(plan: ExecutorPlan): string {
  const line = (op: ParentOp | AfterCloneOp | ChildOp) => tokensOf(op).map((t) => JSON.stringify(t)).join(' ');
  return [
    ...plan.parent.map((o) => `P  ${line(o)}`),
    `P  "clone" ${plan.cloneFlags}`,
    ...plan.afterClone.map((o) => `P  ${line(o)}`),
    'P  "go"',
    ...plan.child.map((o) => `C  ${line(o)}`),
  ].join('\n');
}
