// A `tmpfs` mount of config.json, turned into what the sentry mounts (host side, pure): the
// per-mount flags (ro, nosuid, nodev, noexec) through the option parser the native platform uses,
// and tmpfs's own options (size, nr_inodes, mode, uid, gid) parsed as Linux's tmpfs reads them.
// Anything else Linux's tmpfs would refuse is refused here, naming the field.

import { hostTotalMem } from './host-facts';
import { MS } from '../policy/plan/constants';
import { parseMountOptions } from '../policy/plan/mounts';
import type { Mount } from '../spec/types';
import { ConfigError } from '../util/errors';

export interface TmpfsMountConfig {
  destination: string;
  type: 'tmpfs';
  readonly: boolean;
  nosuid: boolean;
  nodev: boolean;
  noexec: boolean;
  /** Bytes of file data (0: no limit of its own, half the memory as Linux's default). */
  size?: number;
  /** Inodes (0: unlimited). */
  inodes?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  /** tmpfs options as /proc/mounts shows them (size=…k,nr_inodes=…,mode=…). */
  options: string;
}

/** tmpfs options that change nothing in the sentry's memory (no swap, no NUMA, no huge pages). */
const IGNORED = new Set(['huge', 'mpol', 'inode32', 'inode64', 'noswap', 'quota', 'usrquota', 'grpquota']);
const MAX_ID = 0xfffffffe;

/** N, Nk, Nm, Ng, Nt (binary units), or N% of the host's memory (size) — memparse, as tmpfs. */
function parseSize(v: string, field: string, name: string, pages: boolean): number {
  const m = /^(\d+)([kKmMgGtT%]?)$/.exec(v);
  if (!m) throw new ConfigError(field, `tmpfs option ${name}=${JSON.stringify(v)}: not a size`);
  const n = Number(m[1]);
  const unit = m[2].toLowerCase();
  let bytes: number;
  if (unit === '%') {
    if (!pages) throw new ConfigError(field, `tmpfs option ${name}: a percentage is only allowed for size`);
    bytes = Math.floor((hostTotalMem() * n) / 100);
  } else {
    bytes = n * 1024 ** ' kmgt'.indexOf(unit || ' ');
  }
  if (!Number.isSafeInteger(bytes)) throw new ConfigError(field, `tmpfs option ${name}=${v}: too large`);
  // size is rounded up to whole pages, as tmpfs counts it.
  return pages ? Math.ceil(bytes / 4096) * 4096 : bytes;
}

function parseId(v: string, field: string, name: string): number {
  if (!/^\d+$/.test(v) || Number(v) > MAX_ID) throw new ConfigError(field, `tmpfs option ${name}=${JSON.stringify(v)}: not a valid id`);
  return Number(v);
}

/** The tmpfs data options (what parseMountOptions leaves as `data`). */
function parseData(data: string, field: string, out: TmpfsMountConfig): void {
  const shown: string[] = [];
  for (const opt of data === '' ? [] : data.split(',')) {
    const eq = opt.indexOf('=');
    const name = eq < 0 ? opt : opt.slice(0, eq);
    const v = eq < 0 ? '' : opt.slice(eq + 1);
    switch (name) {
      case 'size':
        out.size = parseSize(v, field, name, true);
        break;
      case 'nr_inodes':
        out.inodes = parseSize(v, field, name, false);
        break;
      case 'mode':
        if (!/^[0-7]{1,5}$/.test(v) || parseInt(v, 8) > 0o7777) throw new ConfigError(field, `tmpfs option mode=${JSON.stringify(v)}: not an octal mode`);
        out.mode = parseInt(v, 8);
        break;
      case 'uid':
        out.uid = parseId(v, field, name);
        break;
      case 'gid':
        out.gid = parseId(v, field, name);
        break;
      default:
        if (IGNORED.has(name)) continue;
        throw new ConfigError(field, `unknown tmpfs option ${JSON.stringify(opt)}`);
    }
  }
  if (out.size) shown.push(`size=${out.size / 1024}k`);
  if (out.inodes) shown.push(`nr_inodes=${out.inodes}`);
  if (out.mode !== undefined) shown.push(`mode=${out.mode.toString(8)}`);
  if (out.uid) shown.push(`uid=${out.uid}`);
  if (out.gid) shown.push(`gid=${out.gid}`);
  out.options = shown.join(',');
}

/** mounts[index], a tmpfs: what the sentry mounts. Throws ConfigError on options tmpfs refuses. */
export function tmpfsMount(m: Mount, index: number): TmpfsMountConfig {
  const field = `mounts[${index}].options`;
  if (typeof m.destination !== 'string' || !m.destination.startsWith('/')) {
    throw new ConfigError(`mounts[${index}].destination`, 'must be an absolute path');
  }
  const p = parseMountOptions(m.options ?? [], field);
  const out: TmpfsMountConfig = {
    destination: m.destination,
    type: 'tmpfs',
    readonly: (p.flags & MS.RDONLY) !== 0,
    nosuid: (p.flags & MS.NOSUID) !== 0,
    nodev: (p.flags & MS.NODEV) !== 0,
    noexec: (p.flags & MS.NOEXEC) !== 0,
    options: '',
  };
  parseData(p.data, field, out);
  return out;
}
