// The host↔agent channel protocol, version 2 (docs/vm.md#channel). Pure: framing, encoding, and
// validation of everything the guest sends (the guest is untrusted: bounded sizes, known types,
// exact lengths, ranges).
//
// Frame: 'M' 'T' <version u8> <type u8> <payload length u32 LE> <payload>.
// Version 2 (over 1): PLAN carries flags (terminal), RESIZE, SIGNAL_EXEC (on the control channel,
// so that a signal never waits behind an exec's stdin), and the exec channels' EXEC, STDIN,
// STDIN_CLOSE, STDOUT, STDERR. STATS (a later addition, same version: an agent without it answers
// ERROR "unknown message type") asks for the container's cgroup files in the guest; with a pod
// member's name, that member's group, which CGROUP (same version, same rule) makes, writes and removes.

export const PROTOCOL_VERSION = 2;
export const HEADER_BYTES = 8;
/** Largest plan (docs/executor-plan.md). */
export const MAX_PLAN = 8 << 20;
/** Largest payload the host sends: u32 flags + a plan. */
export const MAX_HOST_PAYLOAD = MAX_PLAN + 4;
/** Largest stdin chunk the host sends in one frame. */
export const MAX_STDIN_CHUNK = 32 << 10;
/** Largest payload the host accepts from the guest (output chunks; the agent sends ≤ 16 KiB). */
export const MAX_GUEST_PAYLOAD = 64 << 10;
/** Largest error text the host accepts. */
export const MAX_GUEST_TEXT = 1024;

export const FLAG_TERMINAL = 1;
/** Random bytes a restored guest mixes into its pool. */
export const RESTORE_SEED_BYTES = 64;
/** At most this many bytes of network words after RESTORE's seed (the agent's RESTORE_NET_MAX). */
export const RESTORE_NET_MAX = 1024;

export const HostType = { hello: 1, plan: 2, start: 3, signal: 4, resize: 5, exec: 6, stdin: 7, stdinClose: 8, signalExec: 9, restore: 10, stats: 11, files: 12, cgroup: 13 } as const;
export type HostMessage =
  | { type: 'hello' }
  | { type: 'plan'; plan: Buffer; terminal: boolean }
  | { type: 'start' }
  | { type: 'signal'; signal: number; all: boolean }
  | { type: 'resize'; rows: number; cols: number }
  | { type: 'exec'; plan: Buffer; terminal: boolean }
  | { type: 'stdin'; data: Buffer }
  | { type: 'stdinClose' }
  | { type: 'signalExec'; signal: number; pid: number }
  /** A guest restored from a template (docs/vm.md#templates): the host's clock and fresh randomness. */
  | { type: 'restore'; timeNs: bigint; seed: Buffer; network?: string }
  /** The container's cgroup v2 files in the guest (native/agent/stats.c); `member`: a pod member's group. */
  | { type: 'stats'; member?: string }
  /** A pod member's own cgroup in the guest (native/agent/cgroup.c): make, write one file, remove. */
  | { type: 'cgroup'; verb: 'mkdir' | 'rmdir'; member: string }
  | { type: 'cgroup'; verb: 'write'; member: string; file: string; value: string }
  /** Files copied into the guest before PLAN (/files/N, native/agent/files.c; src/vm/volumes.ts COPIED_FILES). */
  | { type: 'files'; files: GuestFile[] };

export interface GuestFile {
  mode: number;
  uid: number;
  gid: number;
  data: Buffer;
}
/** At most this many FILES, of at most FILE_BYTES_MAX each (the agent's limits). */
export const FILES_MAX = 8;
export const FILE_BYTES_MAX = 64 << 10;

export const GuestType = { hello: 0x81, ready: 0x82, started: 0x83, ok: 0x84, error: 0x85, exit: 0x86, stdout: 0x87, stderr: 0x88, stats: 0x89 } as const;
/** The agent's phase, as its hello reports it (an exec channel: idle or running). */
export type GuestPhase = 'idle' | 'created' | 'running' | 'exited';
const PHASES: readonly GuestPhase[] = ['idle', 'created', 'running', 'exited'];
export type GuestMessage =
  | { type: 'hello'; version: number; phase: GuestPhase; exitStatus: number }
  | { type: 'ready'; pid: number }
  | { type: 'started' }
  | { type: 'ok' }
  | { type: 'error'; message: string }
  | { type: 'exit'; status: number }
  | { type: 'stdout'; data: Buffer }
  | { type: 'stderr'; data: Buffer }
  /** The container's cgroup files as the guest read them: names from STATS_FILES only. */
  | { type: 'stats'; files: Map<string, string> };

/** The cgroup v2 files a guest may report in STATS (the agent's list), each at most STATS_FILE_MAX bytes. */
export const STATS_FILES: ReadonlySet<string> = new Set([
  'cpu.stat', 'memory.stat', 'memory.events', 'memory.current', 'memory.peak', 'memory.max',
  'memory.swap.current', 'memory.swap.max', 'memory.swap.peak', 'memory.swap.events',
  'pids.current', 'pids.max', 'io.stat',
]);
export const STATS_FILE_MAX = 4096;

export class ProtocolError extends Error {}

/** The files of a pod member's group the host may write (the agent's list, native/agent/cgroup.c). */
export const MEMBER_WRITABLE: ReadonlySet<string> = new Set([
  'cgroup.freeze', 'cpu.idle', 'cpu.max', 'cpu.max.burst', 'cpu.weight', 'io.max', 'io.weight',
  'memory.high', 'memory.low', 'memory.max', 'memory.min', 'memory.swap.max', 'pids.max',
]);

/** A pod member's name as the agent takes it: a plain word of at most 128 bytes (a container id). */
function memberName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(name)) throw new ProtocolError(`member name ${JSON.stringify(name)}: not a plain word of 1..128 characters`);
  return name;
}

function cString(s: string): Buffer {
  if (s.includes('\0')) throw new ProtocolError('a NUL in a string');
  return Buffer.from(`${s}\0`, 'latin1');
}

function frame(type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.write('MT', 0, 'ascii');
  h[2] = PROTOCOL_VERSION;
  h[3] = type;
  h.writeUInt32LE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

function u32s(...values: number[]): Buffer {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeUInt32LE(v, 4 * i));
  return b;
}

function withPlan(type: number, plan: Buffer, terminal: boolean): Buffer {
  if (plan.length > MAX_PLAN) throw new ProtocolError(`plan: ${plan.length} bytes is more than ${MAX_PLAN}`);
  return frame(type, Buffer.concat([u32s(terminal ? FLAG_TERMINAL : 0), plan]));
}

export function encodeHostMessage(m: HostMessage): Buffer {
  switch (m.type) {
    case 'hello':
      return frame(HostType.hello, Buffer.alloc(0));
    case 'plan':
      return withPlan(HostType.plan, m.plan, m.terminal);
    case 'exec':
      return withPlan(HostType.exec, m.plan, m.terminal);
    case 'start':
      return frame(HostType.start, Buffer.alloc(0));
    case 'signal':
      if (!Number.isInteger(m.signal) || m.signal < 1 || m.signal > 64) throw new ProtocolError(`signal: ${m.signal} is not 1..64`);
      return frame(HostType.signal, u32s(m.signal, m.all ? 1 : 0));
    case 'signalExec':
      if (!Number.isInteger(m.signal) || m.signal < 1 || m.signal > 64) throw new ProtocolError(`signal: ${m.signal} is not 1..64`);
      if (!Number.isInteger(m.pid) || m.pid < 1 || m.pid > 4194304) throw new ProtocolError(`signal: pid ${m.pid} is out of range`);
      return frame(HostType.signalExec, u32s(m.signal, m.pid));
    case 'resize':
      for (const v of [m.rows, m.cols]) if (!Number.isInteger(v) || v < 0 || v > 65535) throw new ProtocolError(`resize: ${v} is not 0..65535`);
      return frame(HostType.resize, u32s(m.rows, m.cols));
    case 'stdin':
      if (m.data.length === 0 || m.data.length > MAX_STDIN_CHUNK) throw new ProtocolError(`stdin: chunk of ${m.data.length} bytes (1..${MAX_STDIN_CHUNK})`);
      return frame(HostType.stdin, m.data);
    case 'stdinClose':
      return frame(HostType.stdinClose, Buffer.alloc(0));
    case 'stats':
      return frame(HostType.stats, m.member === undefined ? Buffer.alloc(0) : Buffer.from(memberName(m.member), 'latin1'));
    case 'cgroup': {
      const parts = [Buffer.from(m.verb === 'mkdir' ? 'm' : m.verb === 'rmdir' ? 'r' : 'w', 'latin1'), cString(memberName(m.member))];
      if (m.verb === 'write') {
        if (!MEMBER_WRITABLE.has(m.file)) throw new ProtocolError(`cgroup: ${m.file} is not a file the host may write in a member's group`);
        if (m.value.length > 256 || !/^[\x20-\x7e\n]*$/.test(m.value)) throw new ProtocolError(`cgroup: ${m.file}: bad value`);
        parts.push(cString(m.file), cString(m.value));
      }
      return frame(HostType.cgroup, Buffer.concat(parts));
    }
    case 'files': {
      if (m.files.length > FILES_MAX) throw new ProtocolError(`files: ${m.files.length} is more than ${FILES_MAX}`);
      const parts = [u32s(m.files.length)];
      for (const f of m.files) {
        if (f.data.length > FILE_BYTES_MAX) throw new ProtocolError(`files: ${f.data.length} bytes is more than ${FILE_BYTES_MAX}`);
        for (const v of [f.uid, f.gid]) if (!Number.isInteger(v) || v < 0 || v > 0xfffffffe) throw new ProtocolError(`files: id ${v} is out of range`);
        parts.push(u32s(f.mode & 0o777, f.uid, f.gid, f.data.length), f.data);
      }
      return frame(HostType.files, Buffer.concat(parts));
    }
    case 'restore': {
      if (m.seed.length !== RESTORE_SEED_BYTES) throw new ProtocolError(`restore: seed of ${m.seed.length} bytes, expected ${RESTORE_SEED_BYTES}`);
      if (m.timeNs < 0n) throw new ProtocolError('restore: time before 1970');
      const b = Buffer.alloc(16);
      b.writeBigUInt64LE(m.timeNs / 1_000_000_000n, 0);
      b.writeUInt32LE(Number(m.timeNs % 1_000_000_000n), 8);
      // A template with NICs: `moat.ifN=...` words for the agent to configure them (network.ts).
      const net = Buffer.from(m.network ?? '', 'latin1');
      if (net.length > RESTORE_NET_MAX || !/^[\x20-\x7e]*$/.test(m.network ?? '')) throw new ProtocolError(`restore: network words of ${net.length} bytes, or not printable (at most ${RESTORE_NET_MAX})`);
      return frame(HostType.restore, Buffer.concat([b, m.seed, net]));
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
      if (payload.length > MAX_GUEST_TEXT) throw new ProtocolError(`guest error: ${payload.length} bytes of text is more than ${MAX_GUEST_TEXT}`);
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
    case GuestType.stdout:
    case GuestType.stderr:
      // The process's bytes, passed through as they are (like any container's output).
      if (payload.length === 0) throw new ProtocolError('guest output: empty chunk');
      return { type: type === GuestType.stdout ? 'stdout' : 'stderr', data: Buffer.from(payload) };
    case GuestType.stats:
      return { type: 'stats', files: decodeStatsFiles(payload) };
    default:
      throw new ProtocolError(`guest message type ${type}: unknown`);
  }
}

/**
 * STATS' payload: `name NUL content NUL` pairs. Only known names, each once, with printable ASCII
 * content (cgroup files are text) of at most STATS_FILE_MAX bytes; the parsers downstream read
 * numbers from it and tolerate anything else.
 */
function decodeStatsFiles(payload: Buffer): Map<string, string> {
  const files = new Map<string, string>();
  let at = 0;
  while (at < payload.length) {
    const nameEnd = payload.indexOf(0, at);
    const contentEnd = nameEnd < 0 ? -1 : payload.indexOf(0, nameEnd + 1);
    if (contentEnd < 0) throw new ProtocolError('guest stats: a file without its terminating NUL');
    const name = payload.toString('latin1', at, nameEnd);
    if (!STATS_FILES.has(name)) throw new ProtocolError(`guest stats: unexpected file ${JSON.stringify(name.slice(0, 64))}`);
    if (files.has(name)) throw new ProtocolError(`guest stats: ${name} twice`);
    if (contentEnd - nameEnd - 1 > STATS_FILE_MAX) throw new ProtocolError(`guest stats: ${name} is more than ${STATS_FILE_MAX} bytes`);
    const content = payload.toString('latin1', nameEnd + 1, contentEnd);
    if (!/^[\x20-\x7e\n\t]*$/.test(content)) throw new ProtocolError(`guest stats: ${name} is not text`);
    files.set(name, content);
    at = contentEnd + 1;
  }
  return files;
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

/** Which guest messages a channel accepts: the control channel never streams output. */
export function checkAllowed(m: GuestMessage, channel: 'ctl' | 'exec'): void {
  if (channel === 'ctl' && (m.type === 'stdout' || m.type === 'stderr')) throw new ProtocolError(`guest ${m.type} on the control channel`);
  if (channel === 'exec' && (m.type === 'started' || m.type === 'ok' || m.type === 'stats')) throw new ProtocolError(`guest ${m.type} on an exec channel`);
}
