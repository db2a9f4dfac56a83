// The spec `moat do` runs: the caller's command over a read-only view of the host root with a
// writable in-memory layer, in new pid/mount/uts/ipc/net namespaces. Pure: unit-tested.

import { DEFAULT_MASKED_PATHS, DEFAULT_PATH_ENV, DEFAULT_READONLY_PATHS, DOCKER_DEFAULT_CAPS } from '../spec/default';
import type { Process, Spec } from '../spec/types';
import { dockerDefaultProfile } from '../policy/seccomp/default-profile';
import { USERNS_ANNOTATION } from './userns';

export interface DoSpecInput {
  args: string[];
  env: Record<string, string | undefined>;
  cwd: string;
  hostname?: string;
  /** A user namespace of its own (dev.moat.userns=auto; `--userns=host` turns it off). */
  userns?: boolean;
}

/** Environment variables that describe the caller's session, not the sandbox. */
const DROPPED_ENV = new Set(['MOAT_NATIVE_DIR', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'NODE_OPTIONS']);

/** The caller's environment as `moat do` gives it to its command: less what describes moat's own session. */
export function commandEnvironment(input: Record<string, string | undefined>): Record<string, string> {
  const callerEnv = { ...input };
  // bin/moat moves NODE_EXTRA_CA_CERTS aside for moat's own start-up; the command gets it back.
  const saved = callerEnv.MOAT_SAVED_NODE_EXTRA_CA_CERTS;
  delete callerEnv.MOAT_SAVED_NODE_EXTRA_CA_CERTS;
  if (saved !== undefined && callerEnv.NODE_EXTRA_CA_CERTS === undefined) callerEnv.NODE_EXTRA_CA_CERTS = saved;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(callerEnv)) {
    if (v !== undefined && !DROPPED_ENV.has(k) && k !== '' && !k.includes('=') && !k.includes('\0') && !v.includes('\0')) out[k] = v;
  }
  return out;
}

export function doSpec(input: DoSpecInput): Spec & { process: Process } {
  const env = Object.entries(commandEnvironment(input.env)).map(([k, v]) => `${k}=${v}`);
  if (!env.some((e) => e.startsWith('PATH='))) env.push(DEFAULT_PATH_ENV);
  return {
    ociVersion: '1.2.0',
    root: { path: '(host root overlay)', readonly: false },
    hostname: input.hostname ?? 'moat',
    annotations: input.userns ? { [USERNS_ANNOTATION]: 'auto' } : {},
    process: {
      args: input.args,
      env,
      cwd: input.cwd,
      user: { uid: 0, gid: 0, additionalGids: [] },
      rlimits: [],
      noNewPrivileges: true,
      capabilities: {
        bounding: DOCKER_DEFAULT_CAPS,
        effective: DOCKER_DEFAULT_CAPS,
        permitted: DOCKER_DEFAULT_CAPS,
      },
    },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] },
      { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755'] },
    ],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'uts' }, { type: 'ipc' }, { type: 'network' }],
      uidMappings: [],
      gidMappings: [],
      devices: [],
      sysctl: {},
      maskedPaths: DEFAULT_MASKED_PATHS,
      readonlyPaths: DEFAULT_READONLY_PATHS,
      // Docker's default seccomp profile, resolved for the capabilities the command gets.
      seccomp: dockerDefaultProfile(DOCKER_DEFAULT_CAPS),
    },
  };
}
