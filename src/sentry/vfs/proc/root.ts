// /proc itself: the system files, self and thread-self, a directory per process, and sys/.

import { randomUUID } from '../../random';
import { ENOENT } from '../../abi/errno';
import type { ProcDir, ProcKernel, ProcNode } from './node';
import type { Task } from '../../kernel/task';
import { DIR_MODE, parseId, staticDir, symlink, textFile } from './node';
import { sysNetDir } from './net';
import { pidDir } from './pid';
import { sysvipcDir } from './sysvipc';
import { isVisible } from './process';
import {
  SYS_VALUES, bootId, cmdlineText, cpuinfoText, devicesText, filesystemsText, loadavgText, meminfoText, statText, swapsText, uptimeText, versionText,
} from './system';

function value(v: () => string): () => ProcNode {
  return () => ({ ...textFile(() => v() + '\n'), sysctl: true });
}

function sysDir(k: ProcKernel): ProcDir {
  return staticDir({
    fs: () =>
      staticDir({
        'file-max': value(() => SYS_VALUES.fileMax),
        nr_open: value(() => SYS_VALUES.nrOpen),
      }),
    kernel: () =>
      staticDir({
        cap_last_cap: value(() => SYS_VALUES.capLastCap),
        domainname: value(() => k.domainname),
        hostname: value(() => k.hostname),
        keys: () =>
          staticDir({
            maxbytes: value(() => SYS_VALUES.keysMaxBytes),
            maxkeys: value(() => SYS_VALUES.keysMaxKeys),
            root_maxbytes: value(() => SYS_VALUES.keysRootMaxBytes),
            root_maxkeys: value(() => SYS_VALUES.keysRootMaxKeys),
          }),
        ngroups_max: value(() => SYS_VALUES.ngroupsMax),
        osrelease: value(() => SYS_VALUES.osrelease),
        ostype: value(() => SYS_VALUES.ostype),
        overflowgid: value(() => SYS_VALUES.overflowId),
        overflowuid: value(() => SYS_VALUES.overflowId),
        pid_max: value(() => SYS_VALUES.pidMax),
        randomize_va_space: value(() => SYS_VALUES.randomizeVaSpace),
        msgmax: value(() => SYS_VALUES.msgmax),
        msgmnb: value(() => SYS_VALUES.msgmnb),
        msgmni: value(() => SYS_VALUES.msgmni),
        sem: value(() => SYS_VALUES.sem),
        shmall: value(() => SYS_VALUES.shmall),
        shmmax: value(() => SYS_VALUES.shmmax),
        shmmni: value(() => SYS_VALUES.shmmni),
        'threads-max': value(() => SYS_VALUES.threadsMax),
        random: () =>
          staticDir({
            boot_id: value(() => bootId(k)),
            uuid: value(() => randomUUID()),
          }),
        version: value(() => SYS_VALUES.version),
      }),
    net: () => sysNetDir(),
    vm: () =>
      staticDir({
        max_map_count: value(() => SYS_VALUES.maxMapCount),
        mmap_min_addr: value(() => SYS_VALUES.mmapMinAddr),
        overcommit_memory: value(() => SYS_VALUES.overcommitMemory),
      }),
  });
}

/**
 * The root of moat's /proc for the kernel k. Each list, lookup and readlink is given the task
 * doing it (self): /proc/self and /proc/thread-self name it, and the processes listed are those
 * of its PID namespace (the sandbox's for the sentry's own calls, which name none).
 */
export function procRoot(k: ProcKernel): ProcNode {
  const ns = (self?: Task) => self?.tg.pidns ?? k.pidns;
  const fixed: Record<string, () => ProcNode> = {
    cmdline: () => textFile(cmdlineText),
    cpuinfo: () => textFile(() => cpuinfoText(k)),
    devices: () => textFile(devicesText),
    filesystems: () => textFile(filesystemsText),
    loadavg: () => textFile(() => loadavgText(k)),
    meminfo: () => textFile(() => meminfoText(k)),
    mounts: () => symlink(() => 'self/mounts'),
    net: () => symlink(() => 'self/net'),
    stat: () => textFile(() => statText(k)),
    swaps: () => textFile(swapsText),
    sys: () => sysDir(k),
    sysvipc: () => sysvipcDir(k),
    uptime: () => textFile(() => uptimeText(k)),
    version: () => textFile(versionText),
    self: () => symlink((t) => (t ? String(t.pid) : -ENOENT)),
    'thread-self': () => symlink((t) => (t ? `${t.pid}/task/${t.tid}` : -ENOENT)),
  };
  const fixedNames = Object.keys(fixed);
  return {
    kind: 'dir',
    mode: DIR_MODE,
    list(self) {
      const pids: number[] = [];
      // The pids of the reader's PID namespace (a pod's container sees its own processes only).
      for (const tg of ns(self).groups.values()) if (isVisible(tg) && tg.leader) pids.push(tg.tgid);
      pids.sort((a, b) => a - b);
      return [...fixedNames, ...pids.map(String)];
    },
    lookup(name, self) {
      if (Object.prototype.hasOwnProperty.call(fixed, name)) return fixed[name]();
      const id = parseId(name);
      if (id === undefined) return undefined;
      const tg = ns(self).groups.get(id);
      if (tg && isVisible(tg) && tg.leader) return pidDir(k, tg, tg.leader, true);
      // A thread's id works too, though readdir does not show it (as on Linux).
      const t = ns(self).tasks.get(id);
      if (t && t.state !== 'dead' && isVisible(t.tg)) return pidDir(k, t.tg, t, true);
      return undefined;
    },
  };
}
