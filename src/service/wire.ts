// The wire between the native front-end (native/front/moat-front.c) and `moat service`: frames of
// u32 length (little-endian, of type + payload), u8 type, payload. The front-end is another
// process of the same uid, but its bytes are still input: every count and size is bounded and a
// malformed request is refused with an error, never a crash.

/** Front-end to service. */
export const REQUEST = 0x52; // 'R' u32 argc, u32 envc, then cwd, argv..., env... each NUL-terminated
export const PID = 0x50; // 'P' i32: the executor's pid, or -errno if it could not be started
export const WAITED = 0x57; // 'W' i32: the executor's exit status (code, or 128+signal)
export const SIGNAL = 0x47; // 'G' i32: a signal the caller got while a `run` waits
/** Service to front-end. */
export const NOT_MINE = 0x4e; // 'N': run the command with Node (nothing was done)
export const OUTPUT = 0x4f; // 'O' u8 fd (1 or 2), bytes
export const SPAWN = 0x53; // 'S' u32 preserveFds, u8 run, u32 argc, argv (NUL-terminated); fds attached
export const EXIT = 0x58; // 'X' i32 exit status

export const MAX_FRAME = 1 << 20; // the front-end sends no more (MAX_REQUEST there)
export const MAX_ARGS = 4096;
export const MAX_ENV = 4096;

export interface Request {
  cwd: string;
  argv: string[];
  env: Record<string, string>;
}

export class WireError extends Error {}

export function frame(type: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32LE(payload.length + 1, 0);
  head[4] = type;
  return Buffer.concat([head, payload]);
}

export function intFrame(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v, 0);
  return frame(type, b);
}

/** Splits a byte stream into frames; throws WireError on a frame too large or empty. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): { type: number; payload: Buffer }[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    if (this.buf.length > MAX_FRAME + 5) throw new WireError(`a frame longer than ${MAX_FRAME} bytes`);
    const out: { type: number; payload: Buffer }[] = [];
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32LE(0);
      if (len < 1 || len > MAX_FRAME) throw new WireError(`a frame of ${len} bytes (1..${MAX_FRAME})`);
      if (this.buf.length < 4 + len) break;
      out.push({ type: this.buf[4]!, payload: this.buf.subarray(5, 4 + len) });
      this.buf = this.buf.subarray(4 + len);
    }
    return out;
  }
}

export function parseRequest(p: Buffer): Request {
  if (p.length < 8) throw new WireError('request: shorter than its header');
  const argc = p.readUInt32LE(0);
  const envc = p.readUInt32LE(4);
  if (argc > MAX_ARGS) throw new WireError(`request: ${argc} arguments (at most ${MAX_ARGS})`);
  if (envc > MAX_ENV) throw new WireError(`request: ${envc} environment variables (at most ${MAX_ENV})`);
  const strings: string[] = [];
  let off = 8;
  while (off < p.length) {
    const nul = p.indexOf(0, off);
    if (nul < 0) throw new WireError('request: a string without its NUL');
    strings.push(p.toString('utf8', off, nul));
    off = nul + 1;
  }
  if (strings.length !== 1 + argc + envc) throw new WireError(`request: ${strings.length} strings, expected ${1 + argc + envc}`);
  const cwd = strings[0]!;
  if (!cwd.startsWith('/')) throw new WireError('request: the cwd is not an absolute path');
  const env: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const e of strings.slice(1 + argc)) {
    const eq = e.indexOf('=');
    if (eq <= 0) throw new WireError('request: an environment entry is not KEY=VALUE');
    env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return { cwd, argv: strings.slice(1, 1 + argc), env };
}

/** The payload of a SPAWN frame. */
export function spawnPayload(preserveFds: number, run: boolean, argv: string[]): Buffer {
  const head = Buffer.alloc(9);
  head.writeUInt32LE(preserveFds, 0);
  head[4] = run ? 1 : 0;
  head.writeUInt32LE(argv.length, 5);
  return Buffer.concat([head, ...argv.map((a) => Buffer.from(a + '\0'))]);
}
