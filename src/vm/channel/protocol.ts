// The host↔agent channel protocol, version 1 (docs/vm.md#channel). Pure: framing, encoding, and
// validation of everything the guest sends (the guest is untrusted: bounded sizes, known types).
//
// Frame: 'M' 'T' <version u8> <type u8> <payload length u32 LE> <payload>.

export const PROTOCOL_VERSION = 1;
export const HEADER_BYTES = 8;
/** Largest payload the host sends: a plan (8 MiB, docs/executor-plan.md). */
export const MAX_HOST_PAYLOAD = 8 << 20;
/** Largest payload the host accepts from the guest. */
export const MAX_GUEST_PAYLOAD = 1024;

export const HostType = { hello: 1, plan: 2, start: 3, signal: 4 } as const;
export type HostMessage =
  | { type: 'hello' }
  | { type: 'plan'; plan: Buffer }
  | { type: 'start' }
  | { type: 'signal'; signal: number; all: boolean };

export const GuestType = { hello: 0x81, ready: 0x82, started: 0x83, ok: 0x84, error: 0x85, exit: 0x86 } as const;
/** The agent's phase, as its hello reports it. */
export type GuestPhase = 'idle' | 'created' | 'running' | 'exited';
const PHASES: readonly GuestPhase[] = ['idle', 'created', 'running', 'exited'];
export type GuestMessage =
  | { type: 'hello'; version: number; phase: GuestPhase; exitStatus: number }
  | { type: 'ready'; pid: number }
  | { type: 'started' }
  | { type: 'ok' }
  | { type: 'error'; message: string }
  | { type: 'exit'; status: number };

export class ProtocolError extends Error {}

function frame(type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.write('MT', 0, 'ascii');
  h[2] = PROTOCOL_VERSION;
  h[3] = type;
  h.writeUInt32LE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

export function encodeHostMessage(m: HostMessage): Buffer {
  switch (m.type) {
    case 'hello':
      return frame(HostType.hello, Buffer.alloc(0));
    case 'plan':
      if (m.plan.length > MAX_HOST_PAYLOAD) throw new ProtocolError(`plan: ${m.plan.length} bytes is more than ${MAX_HOST_PAYLOAD}`);
      return frame(HostType.plan, m.plan);
    case 'start':
      return frame(HostType.start, Buffer.alloc(0));
    case 'signal': {
      if (!Number.isInteger(m.signal) || m.signal < 1 || m.signal > 64) throw new ProtocolError(`signal: ${m.signal} is not 1..64`);
      const p = Buffer.alloc(8);
      p.writeUInt32LE(m.signal, 0);
      p.writeUInt32LE(m.all ? 1 : 0, 4);
      return frame(HostType.signal, p);
    }
  }
}

function fixedLength(name: string, payload: Buffer, len: number): void {
  if (payload.length !== len) throw new ProtocolError(`guest ${name}: payload of ${payload.length} bytes, expected ${len}`);
}

/** One guest message from its type and payload; throws ProtocolError on anything unexpected. */
export function decodeGuestMessage(type: number, payload: Buffer): GuestMessage {
  switch (type) {
    case GuestType.hello: {
      fixedLength('hello', payload, 12);
      const version = payload.readUInt32LE(0);
      const phase = PHASES[payload.readUInt32LE(4)];
      const exitStatus = payload.readUInt32LE(8);
      if (phase === undefined) throw new ProtocolError(`guest hello: unknown phase ${payload.readUInt32LE(4)}`);
      if (exitStatus > 255) throw new ProtocolError(`guest hello: exit status ${exitStatus} is not 0..255`);
      return { type: 'hello', version, phase, exitStatus };
    }
    case GuestType.ready: {
      fixedLength('ready', payload, 4);
      const pid = payload.readUInt32LE(0);
      if (pid < 1 || pid > 4194304) throw new ProtocolError(`guest ready: pid ${pid} is out of range`);
      return { type: 'ready', pid };
    }
    case GuestType.started:
      fixedLength('started', payload, 0);
      return { type: 'started' };
    case GuestType.ok:
      fixedLength('ok', payload, 0);
      return { type: 'ok' };
    case GuestType.error: {
      // Shown to the user: printable text only, one line.
      const message = payload.toString('utf8').replace(/[^\x20-\x7e\u00a0-\uffff]/g, '?');
      return { type: 'error', message };
    }
    case GuestType.exit: {
      fixedLength('exit', payload, 4);
      const status = payload.readUInt32LE(0);
      if (status > 255) throw new ProtocolError(`guest exit: status ${status} is not 0..255`);
      return { type: 'exit', status };
    }
    default:
      throw new ProtocolError(`guest message type ${type}: unknown`);
  }
}

/** Incremental frame reader for the guest→host stream. */
export class GuestFrameReader {
  private buf: Buffer = Buffer.alloc(0);

  /** Feed bytes; returns the complete messages. Throws ProtocolError on a bad frame. */
  push(chunk: Buffer): GuestMessage[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: GuestMessage[] = [];
    while (this.buf.length >= HEADER_BYTES) {
      if (this.buf[0] !== 0x4d || this.buf[1] !== 0x54) throw new ProtocolError('guest frame: bad magic');
      if (this.buf[2] !== PROTOCOL_VERSION) throw new ProtocolError(`guest frame: protocol version ${this.buf[2]}, this moat speaks ${PROTOCOL_VERSION}`);
      const len = this.buf.readUInt32LE(4);
      if (len > MAX_GUEST_PAYLOAD) throw new ProtocolError(`guest frame: payload of ${len} bytes is more than ${MAX_GUEST_PAYLOAD}`);
      if (this.buf.length < HEADER_BYTES + len) break;
      out.push(decodeGuestMessage(this.buf[3]!, this.buf.subarray(HEADER_BYTES, HEADER_BYTES + len)));
      this.buf = this.buf.subarray(HEADER_BYTES + len);
    }
    return out;
  }
}
