// System V message queues (msgget/msgsnd/msgrcv/msgctl). A queue keeps its messages in order;
// msgrcv picks by type (0: the first; > 0: the first of that type, or of any other with
// MSG_EXCEPT; < 0: the first of the lowest type up to -msgtyp). Senders wait while the queue's
// bytes or message count would pass msg_qbytes, receivers while nothing matches: both park on the
// queue's wait queue, which every change notifies.

import { E2BIG, EACCES, EINVAL, ENOMSG, EPERM } from '../abi/errno';
import { capable, type Credentials } from '../kernel/creds';
import { WaitQueue } from '../kernel/waitqueue';
import {
  IPC_INFO, IPC_RMID, IPC_SET, IPC_STAT, IpcRegistry, ipcAllowed, mayControl, newPerm, nowSeconds, readPermSet, setPerm, writePerm,
  type IpcObject, type IpcPerm,
} from './namespace';

export const MSG_NOERROR = 0o10000;
export const MSG_EXCEPT = 0o20000;
export const MSG_COPY = 0o40000;
export const MSG_STAT = 11;
export const MSG_INFO = 12;
export const MSG_STAT_ANY = 13;
export const MSQID_DS_SIZE = 120;
const CAP_SYS_RESOURCE = 24;

/** /proc/sys/kernel/msg* (the sandbox's; read-only there). */
export const MSG_LIMITS = { msgmax: 8192, msgmnb: 16384, msgmni: 32000 };
/**
 * What all queues together may hold: queues are the sentry's own memory (not the application's),
 * so their sum is bounded whatever msg_qbytes IPC_SET allows; a sender past it waits as on a full
 * queue.
 */
export const MSG_TOTAL_MAX = 64 << 20;
/** And the messages of all queues (empty messages cost their bookkeeping). */
export const MSG_COUNT_MAX = 1 << 18;

export interface Message {
  type: bigint;
  data: Uint8Array;
}

export class MsgQueue implements IpcObject {
  id = 0;
  ctime = nowSeconds();
  stime = 0;
  rtime = 0;
  lspid = 0;
  lrpid = 0;
  qbytes = MSG_LIMITS.msgmnb;
  cbytes = 0;
  removed = false;
  readonly messages: Message[] = [];
  readonly queue = new WaitQueue();

  constructor(readonly perm: IpcPerm) {}
}

export class MsgRegistry extends IpcRegistry<MsgQueue> {
  totalBytes = 0;
  totalMessages = 0;

  constructor() {
    super(() => MSG_LIMITS.msgmni);
  }

  msgget(c: Credentials, key: number, flags: number): number {
    return this.getOrCreate(c, key, flags, () => 0, () => new MsgQueue(newPerm(key, flags, c)));
  }

  rmid(q: MsgQueue): void {
    q.removed = true;
    this.totalBytes -= q.cbytes;
    this.totalMessages -= q.messages.length;
    this.remove(q);
    q.queue.notify();
  }

  /** One try at msgsnd: 0 sent, 1 to wait (the queue is full). */
  trySend(q: MsgQueue, pid: number, m: Message): number {
    const len = m.data.length;
    if (len + q.cbytes > q.qbytes || 1 + q.messages.length > q.qbytes || this.totalBytes + len > MSG_TOTAL_MAX || this.totalMessages >= MSG_COUNT_MAX) return 1;
    q.messages.push(m);
    q.cbytes += len;
    this.totalBytes += len;
    this.totalMessages++;
    q.lspid = pid;
    q.stime = nowSeconds();
    q.queue.notify();
    return 0;
  }

  /** One try at msgrcv: the message (taken off unless copy), -E2BIG, or undefined (none matches). */
  tryReceive(q: MsgQueue, pid: number, size: number, msgtyp: bigint, flags: number): Message | number | undefined {
    let idx = -1;
    if (flags & MSG_COPY) {
      if (msgtyp < 0n || msgtyp >= BigInt(q.messages.length)) return undefined;
      idx = Number(msgtyp);
    } else if (msgtyp === 0n) {
      idx = q.messages.length > 0 ? 0 : -1;
    } else if (msgtyp > 0n) {
      const except = (flags & MSG_EXCEPT) !== 0;
      idx = q.messages.findIndex((m) => (m.type === msgtyp) !== except);
    } else {
      let best = -msgtyp;
      for (let i = 0; i < q.messages.length; i++) {
        if (q.messages[i].type <= best && (idx < 0 || q.messages[i].type < best)) {
          best = q.messages[i].type;
          idx = i;
        }
        if (idx >= 0 && best === 1n) break;
      }
    }
    if (idx < 0) return undefined;
    const m = q.messages[idx];
    if (size < m.data.length && !(flags & MSG_NOERROR)) return -E2BIG;
    if (flags & MSG_COPY) {
      // A copy is never cut short (copy_msg: the message must fit the buffer).
      return size < m.data.length ? -EINVAL : m;
    }
    q.messages.splice(idx, 1);
    q.cbytes -= m.data.length;
    this.totalBytes -= m.data.length;
    this.totalMessages--;
    q.lrpid = pid;
    q.rtime = nowSeconds();
    q.queue.notify();
    return m;
  }
}

/** The first checks of msgsnd/msgrcv after the lookup. */
export function checkQueue(q: MsgQueue | undefined, c: Credentials, write: boolean): number {
  if (!q) return -EINVAL;
  return ipcAllowed(c, q.perm, write ? 0o222 : 0o444) ? 0 : -EACCES;
}

export function msqidDs(q: MsgQueue): Uint8Array {
  const b = new Uint8Array(MSQID_DS_SIZE);
  const dv = new DataView(b.buffer);
  writePerm(dv, 0, q.perm);
  dv.setBigInt64(48, BigInt(q.stime), true);
  dv.setBigInt64(56, BigInt(q.rtime), true);
  dv.setBigInt64(64, BigInt(q.ctime), true);
  dv.setBigUint64(72, BigInt(q.cbytes), true);
  dv.setBigUint64(80, BigInt(q.messages.length), true);
  dv.setBigUint64(88, BigInt(q.qbytes), true);
  dv.setInt32(96, q.lspid, true);
  dv.setInt32(100, q.lrpid, true);
  return b;
}

/** struct msginfo (IPC_INFO: limits; MSG_INFO: msgpool = queues, msgmap = messages, msgtql = bytes). */
export function msgInfo(r: MsgRegistry, usage: boolean): Uint8Array {
  const b = new Uint8Array(32);
  const dv = new DataView(b.buffer);
  const L = MSG_LIMITS;
  const pool = usage ? r.count : Math.floor((L.msgmni * L.msgmnb) / 1024);
  const map = usage ? r.totalMessages : L.msgmnb;
  const tql = usage ? r.totalBytes : L.msgmnb;
  [pool, map, L.msgmax, L.msgmnb, L.msgmni, 16, tql].forEach((v, i) => dv.setInt32(i * 4, v, true));
  dv.setUint16(28, 0xffff, true);
  return b;
}

export type MsgCtlResult = number | { out: Uint8Array; ret: number };

export function msgctl(r: MsgRegistry, c: Credentials, id: number, cmd: number, read: (len: number) => Uint8Array | null): MsgCtlResult {
  switch (cmd) {
    case IPC_INFO:
    case MSG_INFO:
      return { out: msgInfo(r, cmd === MSG_INFO), ret: r.maxIndex() };
    case MSG_STAT:
    case MSG_STAT_ANY: {
      const q = r.atIndex(id);
      if (!q) return -EINVAL;
      if (cmd === MSG_STAT && !ipcAllowed(c, q.perm, 0o444)) return -EACCES;
      return { out: msqidDs(q), ret: q.id };
    }
  }
  if (cmd !== IPC_STAT && cmd !== IPC_SET && cmd !== IPC_RMID) return -EINVAL;
  const q = r.get(id);
  if (!q) return -EINVAL;
  if (cmd === IPC_STAT) return ipcAllowed(c, q.perm, 0o444) ? { out: msqidDs(q), ret: 0 } : -EACCES;
  let set: Uint8Array | null = null;
  if (cmd === IPC_SET) {
    set = read(MSQID_DS_SIZE);
    if (!set) return -14;
  }
  const e = mayControl(c, q.perm);
  if (e) return e;
  if (cmd === IPC_RMID) {
    r.rmid(q);
    return 0;
  }
  const dv = new DataView(set!.buffer, set!.byteOffset, set!.byteLength);
  const qbytes = dv.getBigUint64(88, true);
  if (qbytes > BigInt(MSG_LIMITS.msgmnb) && !capable(c, CAP_SYS_RESOURCE)) return -EPERM;
  if (qbytes > 0x7fffffffn) return -EINVAL;
  const p = readPermSet(dv, 0);
  setPerm(q.perm, p.uid, p.gid, p.mode);
  q.qbytes = Number(qbytes);
  q.ctime = nowSeconds();
  q.queue.notify();
  return 0;
}

export { ENOMSG };
