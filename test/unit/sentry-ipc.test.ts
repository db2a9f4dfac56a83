// The sentry's System V IPC registries as pure objects (src/sentry/ipc): ids that a removal makes
// stale, keys, permissions with the caller's creds and CAP_IPC_OWNER, and the bounds the sentry
// keeps under Linux's limits so that hostile counts and sizes cannot make it hold unbounded memory.
// What a program sees of them natively and under the sentry alike is test/sentry/progs/sysvipc.c.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { E2BIG, EACCES, EEXIST, EINVAL, ENOENT, ENOMEM, ENOSPC } from '../../src/sentry/abi/errno';
import { initialCreds } from '../../src/sentry/kernel/creds';
import { IPC_CREAT, IPC_EXCL, IPC_NOWAIT, IPC_PRIVATE, SEQ_MULTIPLIER } from '../../src/sentry/ipc/namespace';
import { MSG_COPY, MSG_COUNT_MAX, MSG_NOERROR, MSG_TOTAL_MAX, MsgRegistry } from '../../src/sentry/ipc/msg';
import { GETVAL, SEM_TOTAL_MAX, SEM_UNDO, SEM_UNDO_TOTAL_MAX, SemRegistry, semctl, trySemop } from '../../src/sentry/ipc/sem';

const root = initialCreds(0, 0, []);
const nobody = initialCreds(65534, 65534, [], { permitted: 0n, effective: 0n, inheritable: 0n, bounding: 0n, ambient: 0n });
const ownerOnly = initialCreds(0, 0, [], { permitted: 1n << 15n, effective: 1n << 15n, inheritable: 0n, bounding: 1n << 15n, ambient: 0n });

test('ids: a removed object\'s id names nothing, even when its slot is reused', () => {
  const r = new SemRegistry();
  const a = r.semget(root, IPC_PRIVATE, 1, 0o600);
  assert.ok(a >= 0);
  r.rmid(r.get(a)!);
  const b = r.semget(root, IPC_PRIVATE, 1, 0o600);
  assert.equal(b % SEQ_MULTIPLIER, a % SEQ_MULTIPLIER, 'the slot is reused');
  assert.notEqual(b, a);
  assert.equal(r.get(a), undefined);
  assert.equal(r.get(-1), undefined);
  assert.equal(r.get(2 ** 40), undefined);
});

test('keys: IPC_CREAT|IPC_EXCL, absent keys, permissions of other users, CAP_IPC_OWNER', () => {
  const r = new SemRegistry();
  const id = r.semget(root, 42, 2, IPC_CREAT | 0o600);
  assert.ok(id >= 0);
  assert.equal(r.semget(root, 42, 2, IPC_CREAT | IPC_EXCL | 0o600), -EEXIST);
  assert.equal(r.semget(root, 43, 2, 0o600), -ENOENT);
  assert.equal(r.semget(root, 42, 3, 0), -EINVAL, 'more semaphores than the set has');
  assert.equal(r.semget(nobody, 42, 0, 0o400), -EACCES);
  // CAP_IPC_OWNER alone overrides the mode (uid 0 without it would be "the owner" here: use another uid).
  const capOnly = { ...ownerOnly, uid: 1000, euid: 1000, fsuid: 1000, suid: 1000 };
  assert.equal(r.semget(capOnly, 42, 0, 0o600), id);
  assert.equal(semctl(r, nobody, 1, id, 0, GETVAL, 0, { read: () => null }), -EACCES);
});

test('semaphores: counts in all sets are bounded by the sentry (ENOSPC), whatever semmns says', () => {
  const r = new SemRegistry();
  const per = 32000;
  let made = 0;
  let last = 0;
  for (let i = 0; i < 100; i++) {
    last = r.semget(root, IPC_PRIVATE, per, 0o600);
    if (last < 0) break;
    made += per;
  }
  assert.equal(last, -ENOSPC);
  assert.ok(made <= SEM_TOTAL_MAX && made + per > SEM_TOTAL_MAX);
});

test('semaphores: SEM_UNDO lists of all processes are bounded (ENOMEM), and a process\'s exit frees its own', () => {
  const r = new SemRegistry();
  const id = r.semget(root, IPC_PRIVATE, 32000, 0o600);
  const s = r.get(id)!;
  const owners: object[] = [];
  let res: unknown = 0;
  for (let i = 0; i < 1000 && res === 0; i++) {
    const o = {};
    res = trySemop(r, s, o, 1, [{ num: 0, op: 1, flg: SEM_UNDO }]);
    if (res === 0) owners.push(o);
  }
  assert.equal(res, -ENOMEM);
  assert.ok(r.undoSems <= SEM_UNDO_TOTAL_MAX);
  assert.equal(s.vals[0], owners.length, 'the refused operation changed nothing');
  for (const o of owners) r.exit(o, 1);
  assert.equal(r.undoSems, 0);
  assert.equal(s.vals[0], 0, 'every adjustment undone');
  assert.equal(trySemop(r, s, {}, 1, [{ num: 1, op: -1, flg: IPC_NOWAIT }]), -11);
});

test('messages: all queues together are bounded in bytes and in count (a sender waits)', () => {
  const r = new MsgRegistry();
  const q = r.get(r.msgget(root, IPC_PRIVATE, 0o600))!;
  q.qbytes = 0x7fffffff;
  let sent = 0;
  while (r.trySend(q, 1, { type: 1n, data: new Uint8Array(8192) }) === 0) sent += 8192;
  assert.ok(sent <= MSG_TOTAL_MAX && sent + 8192 > MSG_TOTAL_MAX);
  const q2 = r.get(r.msgget(root, IPC_PRIVATE, 0o600))!;
  assert.equal(r.trySend(q2, 1, { type: 1n, data: new Uint8Array(1) }), 1);
  r.rmid(q);
  assert.equal(r.totalBytes, 0);
  q2.qbytes = 0x7fffffff;
  let n = 0;
  while (r.trySend(q2, 1, { type: 1n, data: new Uint8Array(0) }) === 0) n++;
  assert.equal(n, MSG_COUNT_MAX);
});

test('messages: MSG_COPY by index (never a negative or past-the-end one), truncation rules', () => {
  const r = new MsgRegistry();
  const q = r.get(r.msgget(root, IPC_PRIVATE, 0o600))!;
  r.trySend(q, 1, { type: 5n, data: new Uint8Array(10) });
  assert.equal(r.tryReceive(q, 1, 64, -1n, MSG_COPY | IPC_NOWAIT), undefined);
  assert.equal(r.tryReceive(q, 1, 64, 1n, MSG_COPY | IPC_NOWAIT), undefined);
  assert.equal(r.tryReceive(q, 1, 4, 0n, MSG_COPY | IPC_NOWAIT), -E2BIG);
  assert.equal(r.tryReceive(q, 1, 4, 0n, MSG_COPY | IPC_NOWAIT | MSG_NOERROR), -EINVAL);
  assert.equal(q.messages.length, 1, 'a copy leaves the message');
  const m = r.tryReceive(q, 1, 4, 0n, MSG_NOERROR);
  assert.ok(typeof m === 'object' && m.type === 5n);
  assert.equal(q.messages.length, 0);
});
