// Tar streams in and out of a sandbox. moat never resolves a sandbox path on the host: `tar` runs
// inside the sandbox (its root, its mounts), so a symlink there resolves there. What crosses the
// boundary is checked here, both ways: every entry name (and hard-link target) must be relative
// and free of `..`, so a stream extracted by the caller (copyOut) or by the sandbox's tar (copyIn)
// cannot name a place outside the directory it is extracted in. Symlinks cross as symlinks (never
// followed); their targets are the extractor's business (moat's own readFile refuses them).

import { Transform, type TransformCallback } from 'node:stream';
import { UsageError } from './errors';

const BLOCK = 512;
/** GNU long names and pax headers are data blocks; bounded so a hostile stream cannot grow them. */
const MAX_META = 64 * 1024;

function field(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const nul = s.indexOf(0);
  return s.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

function octal(b: Buffer, off: number, len: number, what: string): number {
  if (b[off]! & 0x80) throw new UsageError(`tar: ${what}: base-256 sizes are not accepted`);
  const t = field(b, off, len).trim();
  if (!/^[0-7]*$/.test(t)) throw new UsageError(`tar: ${what}: bad octal ${JSON.stringify(t)}`);
  return t === '' ? 0 : parseInt(t, 8);
}

/** Throws unless `name` is relative and has no `..` component. */
export function checkEntryName(name: string, what: string): void {
  if (name === '' || name.includes('\0')) throw new UsageError(`tar: ${what}: empty or NUL in name`);
  if (name.startsWith('/')) throw new UsageError(`tar: ${what} ${JSON.stringify(name)}: absolute names are refused`);
  if (name.split('/').includes('..')) throw new UsageError(`tar: ${what} ${JSON.stringify(name)}: '..' is refused`);
}

function paxRecords(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number(data.subarray(i, sp).toString());
    if (!Number.isSafeInteger(len) || len <= sp - i || i + len > data.length) throw new UsageError('tar: malformed pax header');
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

export interface TarEntry {
  name: string;
  type: string;
  size: number;
  linkname: string;
}

/**
 * Passes a tar stream through unchanged, failing it (UsageError) at the first entry with a
 * hostile name. `onEntry` sees each entry; `onData` its data (readFile collects one file this way).
 */
export class TarCheck extends Transform {
  private buf: Buffer = Buffer.alloc(0);
  private skip = 0; // data bytes (padded) still to pass before the next header
  private meta: { kind: string; left: number; chunks: Buffer[] } | undefined;
  private longName: string | undefined;
  private longLink: string | undefined;
  private pax: Record<string, string> = {};
  private ended = false;
  private dataLeft = 0;

  constructor(private readonly onEntry?: (e: TarEntry) => void, private readonly onData?: (chunk: Buffer) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
      this.parse();
      this.push(chunk);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    if (!this.ended && (this.skip > 0 || this.meta || this.buf.length > 0)) cb(new UsageError('tar: the stream ends inside an entry'));
    else cb();
  }

  private parse(): void {
    while (this.buf.length > 0) {
      if (this.ended) {
        this.buf = Buffer.alloc(0);
        return;
      }
      if (this.skip > 0) {
        const n = Math.min(this.skip, this.buf.length);
        const data = this.buf.subarray(0, n);
        if (this.meta) {
          if (this.meta.left > 0) this.meta.chunks.push(data.subarray(0, Math.min(data.length, this.meta.left)));
          this.meta.left -= Math.min(data.length, this.meta.left);
        } else if (this.dataLeft > 0 && this.onData) {
          this.onData(data.subarray(0, Math.min(n, this.dataLeft)));
        }
        this.dataLeft = Math.max(0, this.dataLeft - n);
        this.skip -= n;
        this.buf = this.buf.subarray(n);
        if (this.skip === 0 && this.meta) this.endMeta();
        continue;
      }
      if (this.buf.length < BLOCK) return;
      const h = this.buf.subarray(0, BLOCK);
      this.buf = this.buf.subarray(BLOCK);
      if (h.every((x) => x === 0)) {
        this.ended = true; // the end-of-archive blocks; anything after is ignored
        continue;
      }
      this.header(h);
    }
  }

  private header(h: Buffer): void {
    const size = octal(h, 124, 12, 'size');
    const type = String.fromCharCode(h[156]! || 0x30);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L' || type === 'K' || type === 'x' || type === 'g') {
      if (size > MAX_META) throw new UsageError(`tar: a ${type} header of ${size} bytes (at most ${MAX_META})`);
      this.meta = { kind: type, left: size, chunks: [] };
      this.skip = padded;
      if (padded === 0) this.endMeta();
      return;
    }
    const prefix = h.subarray(257, 263).toString('latin1').startsWith('ustar') ? field(h, 345, 155) : '';
    const name = this.pax.path ?? this.longName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
    const linkname = this.pax.linkpath ?? this.longLink ?? field(h, 157, 100);
    this.longName = this.longLink = undefined;
    this.pax = {};
    checkEntryName(name.replace(/\/+$/, '') || name, 'entry');
    if (type === '1') checkEntryName(linkname, `hard link ${JSON.stringify(name)} to`);
    const hasData = type === '0' || type === '7' || type === '\0';
    this.onEntry?.({ name, type, size, linkname });
    this.skip = hasData || size > 0 ? padded : 0;
    this.dataLeft = hasData ? size : 0;
  }

  private endMeta(): void {
    const m = this.meta!;
    this.meta = undefined;
    const data = Buffer.concat(m.chunks);
    if (m.kind === 'L') this.longName = field(data, 0, data.length);
    else if (m.kind === 'K') this.longLink = field(data, 0, data.length);
    else if (m.kind === 'x') this.pax = paxRecords(data);
  }
}

function octalField(n: number, len: number): string {
  return n.toString(8).padStart(len - 1, '0') + '\0';
}

/** A tar stream of one regular file (writeFile): a GNU long-name entry first if the name needs it. */
export function singleFileTar(name: string, data: Buffer, mode: number): Buffer {
  checkEntryName(name, 'file');
  const parts: Buffer[] = [];
  const nameBytes = Buffer.from(name);
  if (nameBytes.length > 100) {
    parts.push(header('././@LongLink', nameBytes.length + 1, 'L', 0o644));
    parts.push(pad(Buffer.concat([nameBytes, Buffer.alloc(1)])));
  }
  parts.push(header(nameBytes.length > 100 ? nameBytes.subarray(0, 100).toString('latin1') : name, data.length, '0', mode));
  parts.push(pad(data));
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

function pad(b: Buffer): Buffer {
  const rest = b.length % BLOCK;
  return rest === 0 ? b : Buffer.concat([b, Buffer.alloc(BLOCK - rest)]);
}

function header(name: string, size: number, type: string, mode: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write(octalField(mode & 0o7777, 8), 100, 'latin1');
  h.write(octalField(0, 8), 108, 'latin1');
  h.write(octalField(0, 8), 116, 'latin1');
  h.write(octalField(size, 12), 124, 'latin1');
  h.write(octalField(Math.floor(Date.now() / 1000), 12), 136, 'latin1');
  h.write('        ', 148, 'latin1');
  h.write(type, 156, 'latin1');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  let sum = 0;
  for (const x of h) sum += x;
  h.write(octalField(sum, 7) + ' ', 148, 'latin1');
  return h;
}
