// linux.cgroupsPath → where the container's cgroup lives. Pure.
//
// * absent: `/moat/<id>` (absolute). Under one parent so that moat's cgroups are easy to find and a
//   v2 parent never holds processes itself (cgroup v2's no-internal-processes rule).
// * absolute (`/a/b`): that path from the root of every hierarchy.
// * relative (`a/b`): below moat's own cgroup in each hierarchy (as runc does).
// * with --systemd-cgroup: `slice:prefix:name` → `/<expanded slice>/<prefix>-<name>.scope`. moat does
//   not talk to systemd over D-Bus (no transient units), so the flag is refused: with one line saying
//   systemd is not running, or, where it runs, that the systemd driver is not implemented.

import { ConfigError, MoatError } from '../../util/errors';

export const DEFAULT_CGROUP_PARENT = '/moat';

export interface CgroupPath {
  kind: 'absolute' | 'relative';
  /** Normalised: no empty, `.` or `..` components; absolute ones start with `/`. */
  path: string;
}

export interface CgroupPathInput {
  id: string;
  cgroupsPath: string | undefined;
  systemdCgroup: boolean;
  /** /run/systemd/system exists (sd_booted). */
  systemdRunning: boolean;
}

const FIELD = 'linux.cgroupsPath';

function components(p: string): string[] {
  const parts = p.split('/').filter((c) => c !== '' && c !== '.');
  for (const c of parts) {
    if (c === '..') throw new ConfigError(FIELD, `${JSON.stringify(p)}: ".." is not allowed in a cgroup path`);
    if (/[\0\n]/.test(c)) throw new ConfigError(FIELD, `${JSON.stringify(p)}: contains a NUL or newline`);
  }
  return parts;
}

export function parseCgroupsPath(value: string): CgroupPath {
  const parts = components(value);
  if (parts.length === 0) throw new ConfigError(FIELD, `${JSON.stringify(value)} names the root cgroup; a container needs its own`);
  return value.startsWith('/') ? { kind: 'absolute', path: `/${parts.join('/')}` } : { kind: 'relative', path: parts.join('/') };
}

/** `a-b-c.slice` → `/a.slice/a-b.slice/a-b-c.slice` (systemd's slice nesting); `-.slice` is the root. */
export function expandSlice(slice: string): string {
  if (!slice.endsWith('.slice') || slice.includes('/')) {
    throw new ConfigError(FIELD, `${JSON.stringify(slice)} is not a slice name (NAME.slice)`);
  }
  const name = slice.slice(0, -'.slice'.length);
  if (name === '-') return '';
  const words = name.split('-');
  if (words.some((w) => w === '')) throw new ConfigError(FIELD, `${JSON.stringify(slice)}: empty word in slice name`);
  let prefix = '';
  let out = '';
  for (const w of words) {
    prefix = prefix === '' ? w : `${prefix}-${w}`;
    out += `/${prefix}.slice`;
  }
  return out;
}

/** `slice:prefix:name` → the cgroupfs path systemd would give that unit. */
export function systemdCgroupPath(value: string, id: string): string {
  const parts = value === '' ? ['', '', ''] : value.split(':');
  if (parts.length !== 3) throw new ConfigError(FIELD, `with --systemd-cgroup it must be slice:prefix:name, got ${JSON.stringify(value)}`);
  const [slice, prefix, name] = parts as [string, string, string];
  const unitName = name || id;
  if (unitName.includes('/')) throw new ConfigError(FIELD, `unit name ${JSON.stringify(unitName)} contains a slash`);
  const unit = unitName.endsWith('.slice') ? unitName : `${prefix || 'moat'}-${unitName}.scope`;
  return `${expandSlice(slice || 'system.slice')}/${unit}`;
}

export function resolveCgroupPath(input: CgroupPathInput): CgroupPath {
  if (input.systemdCgroup) {
    const path = systemdCgroupPath(input.cgroupsPath ?? '', input.id);
    if (!input.systemdRunning) {
      throw new MoatError('EUSAGE', `--systemd-cgroup: systemd is not running on this host (no /run/systemd/system); drop the flag to use cgroupfs path ${path}`);
    }
    throw new MoatError('EUSAGE', `--systemd-cgroup: the systemd cgroup driver (transient units over D-Bus) is not implemented; drop the flag to use cgroupfs path ${path}`);
  }
  if (input.cgroupsPath === undefined || input.cgroupsPath === '') {
    return { kind: 'absolute', path: `${DEFAULT_CGROUP_PARENT}/${input.id}` };
  }
  return parseCgroupsPath(input.cgroupsPath);
}

/** The container's directory in one hierarchy; `own` is moat's cgroup there (for relative paths). */
export function hierarchyDir(mountpoint: string, own: string, p: CgroupPath): string {
  const base = p.kind === 'absolute' ? '' : own.replace(/\/+$/, '');
  const rel = p.kind === 'absolute' ? p.path : `${base}/${p.path}`;
  return `${mountpoint}${rel}`;
}
