import { PLATFORMS } from '../platform';
import { DEFAULT_DEVICES } from '../policy/plan/devices';
import type { CommandContext } from './context';
import { ACTIONS as SECCOMP_ACTIONS, FILTER_FLAGS as SECCOMP_FLAGS, OPERATORS as SECCOMP_OPERATORS, SUPPORTED_ARCHES as SECCOMP_ARCHES } from '../policy/seccomp/constants';

export const usage = 'features   print what this runtime supports (JSON, runtime-spec features.md)';

const MOUNT_OPTIONS = [
  'async', 'atime', 'bind', 'defaults', 'dev', 'diratime', 'dirsync', 'exec', 'lazytime', 'loud', 'mand', 'noatime',
  'nodev', 'nodiratime', 'noexec', 'nolazytime', 'nomand', 'norelatime', 'nostrictatime', 'nosuid', 'nosymfollow',
  'private', 'rbind', 'relatime', 'ro', 'rprivate', 'rshared', 'rslave', 'runbindable', 'rw', 'shared', 'silent',
  'slave', 'strictatime', 'suid', 'sync', 'unbindable',
];

export function featuresCommand(_ctx: CommandContext): number {
  const features = {
    ociVersionMin: '1.0.0',
    ociVersionMax: '1.2.0',
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions: MOUNT_OPTIONS,
    linux: {
      namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'time', 'user', 'uts'],
      capabilities: [],
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false },
      seccomp: {
        enabled: true,
        actions: Object.keys(SECCOMP_ACTIONS),
        operators: [...SECCOMP_OPERATORS],
        archs: [...SECCOMP_ARCHES],
        knownFlags: Object.keys(SECCOMP_FLAGS),
        supportedFlags: Object.keys(SECCOMP_FLAGS),
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: false } },
    },
    annotations: {
      'dev.moat.isolation.values': PLATFORMS.join(','),
      'dev.moat.default-devices': DEFAULT_DEVICES.map((d) => d.path).join(','),
      // A user namespace of the container's own, its rootfs idmapped (native): docs/threat-model.md.
      'dev.moat.userns.values': 'auto,host',
    },
  };
  process.stdout.write(JSON.stringify(features, null, 2) + '\n');
  return 0;
}
