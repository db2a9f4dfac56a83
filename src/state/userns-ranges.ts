// Host id ranges for containers in a user namespace of their own (`moat do`, and bundles annotated
// dev.moat.userns=auto): each sandbox gets 65536 host uids/gids that nothing else on the host uses,
// so its root is an unprivileged nobody to the host and to every other sandbox.
//
// Where the ranges come from (docs/threat-model.md, "User namespaces"):
// - slots of 65536 ids from 0x70000000 up to 0x7ffdffff: above systemd-nspawn's pick range
//   (0x00080000-0x6fffffff) and below systemd's "foreign" range (0x7ffe0000), below 2^31 (ids past it
//   break tools that read them as signed), and far above any range useradd hands out in /etc/subuid;
// - a slot is skipped if it overlaps an entry of /etc/subuid, /etc/subgid, or an id of /etc/passwd
//   or /etc/group (someone else's range, whatever its size or place);
// - a slot is taken by a claim file /run/moat-userns/<slot> naming the container's state dir,
//   written under a flock of the directory's .lock; it is freed by `delete`, and a claim whose state
//   dir no longer exists (a moat killed before it could delete) is stale and taken over. One
//   directory for the host, not one per --root: ranges must differ across state roots too (and a
//   directory under /run/moat would be taken for a container id). /run is a tmpfs: no claim
//   outlives a reboot, and neither does any sandbox.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { sys } from '../sys';
import { MoatError } from '../util/errors';

export const RANGE_SIZE = 65536;
export const FIRST_SLOT_BASE = 0x70000000;
export const SLOT_COUNT = (0x7ffe0000 - FIRST_SLOT_BASE) / RANGE_SIZE; // 4094

export const CLAIM_DIR = '/run/moat-userns';

export interface IdRange {
  start: number;
  size: number;
}

export function slotBase(slot: number): number {
  return FIRST_SLOT_BASE + slot * RANGE_SIZE;
}

/** `name:start:count` lines of /etc/subuid or /etc/subgid; malformed lines are skipped. */
export function parseSubordinate(text: string): IdRange[] {
  const out: IdRange[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(':');
    if (f.length !== 3 || f[0]!.startsWith('#')) continue;
    const start = Number(f[1]);
    const size = Number(f[2]);
    if (Number.isSafeInteger(start) && Number.isSafeInteger(size) && start >= 0 && size > 0) out.push({ start, size });
  }
  return out;
}

/** The uid/gid fields (3rd and 4th) of /etc/passwd, or the gid (3rd) of /etc/group, as 1-id ranges. */
export function parseIdsOf(text: string, fields: number[]): IdRange[] {
  const out: IdRange[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    for (const i of fields) {
      const id = Number(f[i]);
      if (f[i] !== undefined && f[i] !== '' && Number.isSafeInteger(id) && id >= 0) out.push({ start: id, size: 1 });
    }
  }
  return out;
}

function overlaps(a: IdRange, b: IdRange): boolean {
  return a.start < b.start + b.size && b.start < a.start + a.size;
}

/** Slots whose range overlaps any of `used` (someone else's ids). Pure: unit-tested. */
export function blockedSlots(used: readonly IdRange[]): Set<number> {
  const out = new Set<number>();
  for (const r of used) {
    const lo = Math.max(0, Math.floor((r.start - FIRST_SLOT_BASE) / RANGE_SIZE));
    const hi = Math.min(SLOT_COUNT - 1, Math.floor((r.start + r.size - 1 - FIRST_SLOT_BASE) / RANGE_SIZE));
    for (let s = lo; s <= hi; s++) if (overlaps(r, { start: slotBase(s), size: RANGE_SIZE })) out.add(s);
  }
  return out;
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Every host id range that belongs to someone else, from the files named above. */
export function hostUsedRanges(etc = '/etc'): IdRange[] {
  return [
    ...parseSubordinate(readOr(path.join(etc, 'subuid'))),
    ...parseSubordinate(readOr(path.join(etc, 'subgid'))),
    ...parseIdsOf(readOr(path.join(etc, 'passwd')), [2, 3]),
    ...parseIdsOf(readOr(path.join(etc, 'group')), [2]),
  ];
}

function withLock<T>(dir: string, fn: () => T): T {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const fd = fs.openSync(path.join(dir, '.lock'), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  try {
    sys().flock(fd, 'ex', false);
    return fn();
  } finally {
    fs.closeSync(fd); // releases the lock
  }
}

/** Claim a free slot for the container whose state dir is `owner`; returns its host range. */
export function claimRange(owner: string, opts: { dir?: string; etc?: string } = {}): IdRange {
  const dir = opts.dir ?? CLAIM_DIR;
  return withLock(dir, () => {
    const blocked = blockedSlots(hostUsedRanges(opts.etc));
    for (let slot = 0; slot < SLOT_COUNT; slot++) {
      if (blocked.has(slot)) continue;
      const file = path.join(dir, String(slot));
      let holder: string | undefined;
      try {
        holder = fs.readFileSync(file, 'utf8');
      } catch {
        // free
      }
      if (holder === owner) return { start: slotBase(slot), size: RANGE_SIZE };
      // A claim of a container that no longer exists (its moat was killed before delete) is stale.
      if (holder !== undefined && fs.existsSync(holder)) continue;
      fs.writeFileSync(file, owner, { mode: 0o600 });
      return { start: slotBase(slot), size: RANGE_SIZE };
    }
    throw new MoatError('ESETUP', `user namespaces: all ${SLOT_COUNT} host id ranges under ${dir} are in use`);
  });
}

/** Free whatever slot `owner` holds (delete, or a create that failed). Missing claims are fine. */
export function releaseRange(owner: string, opts: { dir?: string } = {}): void {
  const dir = opts.dir ?? CLAIM_DIR;
  if (!fs.existsSync(dir)) return;
  withLock(dir, () => {
    for (const name of fs.readdirSync(dir)) {
      if (!/^\d+$/.test(name)) continue;
      const file = path.join(dir, name);
      if (readOr(file) === owner) fs.rmSync(file, { force: true });
    }
  });
}
