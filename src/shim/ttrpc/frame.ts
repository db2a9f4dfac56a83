// ttrpc's framing (github.com/containerd/ttrpc, PROTOCOL.md): every message is a 10-byte header —
// payload length (u32 big-endian), stream id (u32 BE), message type (u8), flags (u8) — and the
// payload. Requests use odd stream ids chosen by the client; the response reuses the id.

export const HEADER_LENGTH = 10;
/** ttrpc's limit on one message's payload (4 MiB); a longer one is refused, never buffered. */
export const MAX_PAYLOAD = 4 << 20;

export const TYPE_REQUEST = 0x1;
export const TYPE_RESPONSE = 0x2;
export const TYPE_DATA = 0x3;

export interface Frame {
  streamId: number;
  type: number;
  flags: number;
  payload: Buffer;
}

export function encodeFrame(f: Frame): Buffer {
  if (f.payload.length > MAX_PAYLOAD) throw new Error(`ttrpc: message of ${f.payload.length} bytes exceeds the ${MAX_PAYLOAD}-byte limit`);
  const head = Buffer.alloc(HEADER_LENGTH);
  head.writeUInt32BE(f.payload.length, 0);
  head.writeUInt32BE(f.streamId >>> 0, 4);
  head.writeUInt8(f.type, 8);
  head.writeUInt8(f.flags, 9);
  return Buffer.concat([head, f.payload]);
}

/** Splits a byte stream into frames; throws on a header announcing more than MAX_PAYLOAD. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Frame[] = [];
    for (;;) {
      if (this.buffered < HEADER_LENGTH) break;
      const head = this.peek(HEADER_LENGTH);
      const length = head.readUInt32BE(0);
      if (length > MAX_PAYLOAD) throw new Error(`ttrpc: peer announced a ${length}-byte message (limit ${MAX_PAYLOAD})`);
      if (this.buffered < HEADER_LENGTH + length) break;
      const whole = this.take(HEADER_LENGTH + length);
      out.push({ streamId: head.readUInt32BE(4), type: head.readUInt8(8), flags: head.readUInt8(9), payload: whole.subarray(HEADER_LENGTH) });
    }
    return out;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!.subarray(0, n);
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return Buffer.from(all.subarray(0, n));
  }
}
