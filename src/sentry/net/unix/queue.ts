// An AF_UNIX socket's receive queue: messages (a stream's segments, or datagrams) in arrival order.
// Each message holds its sender (for the source address and for the sender's send-buffer
// accounting: sk_wmem_alloc, what SO_SNDBUF bounds), the sender's credentials, and the files of an
// SCM_RIGHTS message (references kept while the message is in flight).

import type { Scm, Ucred } from '../message';

/** Who sent a message: what the queue needs of the sending socket. */
export interface Sender {
  /** Its bound address, or null. */
  name: Uint8Array | null;
  /** Bytes it sent that are not read yet. */
  outstanding: number;
  readonly waitQueue: { notify(): void };
}

export interface UnixMessage {
  data: Uint8Array;
  /** Bytes of a stream segment already read. */
  off: number;
  scm: Scm | null;
  /** The sender's credentials, if it attached them (SO_PASSCRED at either end, or SCM_CREDENTIALS). */
  creds: Ucred | null;
  sender: Sender;
}

export class MessageQueue {
  private items: UnixMessage[] = [];
  private head = 0;
  /** Unread bytes in all messages. */
  bytes = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  /** The i-th unread message (0: the oldest). */
  at(i: number): UnixMessage | undefined {
    return this.items[this.head + i];
  }

  push(m: UnixMessage): void {
    this.items.push(m);
    this.bytes += m.data.length - m.off;
    m.sender.outstanding += m.data.length - m.off;
  }

  /** n bytes of the oldest message were read (a stream); it leaves the queue once empty. */
  consume(n: number): void {
    const m = this.items[this.head];
    m.off += n;
    this.bytes -= n;
    m.sender.outstanding -= n;
    m.sender.waitQueue.notify();
    if (m.off >= m.data.length) this.shift();
  }

  /** The oldest message leaves the queue (what was unread of it no longer counts). */
  shift(): UnixMessage | undefined {
    const m = this.items[this.head];
    if (!m) return undefined;
    this.items[this.head++] = undefined as unknown as UnixMessage;
    const left = m.data.length - m.off;
    this.bytes -= left;
    m.sender.outstanding -= left;
    if (left > 0) m.sender.waitQueue.notify();
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return m;
  }

  /** Everything, in order, removed (the socket is closing). */
  drain(): UnixMessage[] {
    const out: UnixMessage[] = [];
    for (let m = this.shift(); m; m = this.shift()) out.push(m);
    return out;
  }
}
