// /proc/sysvipc/{shm,sem,msg}: the IPC namespace's objects, one line each, in Linux's columns.

import { ipcNamespaceIfAny } from '../../ipc';
import type { ProcDir } from './node';
import { staticDir, textFile } from './node';

const pad = (v: number | bigint | string, n: number) => String(v).padStart(n, ' ');
const oct = (m: number) => (m & 0o7777).toString(8).padStart(4, ' ');

function shmText(k: object): string {
  let s = '       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n';
  for (const g of ipcNamespaceIfAny(k)?.shm.all() ?? []) {
    const p = g.perm;
    s += `${pad(p.key | 0, 10)} ${pad(g.id, 10)}  ${oct(p.mode)} ${pad(g.size, 21)} ${pad(g.cpid, 5)} ${pad(g.lpid, 5)}  ${pad(g.nattch, 5)} ${pad(p.uid, 5)} ${pad(p.gid, 5)} ${pad(p.cuid, 5)} ${pad(p.cgid, 5)} ${pad(g.atime, 10)} ${pad(g.dtime, 10)} ${pad(g.ctime, 10)} ${pad(g.pages * 4096, 21)} ${pad(0, 21)}\n`;
  }
  return s;
}

function semText(k: object): string {
  let s = '       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n';
  for (const m of ipcNamespaceIfAny(k)?.sem.all() ?? []) {
    const p = m.perm;
    s += `${pad(p.key | 0, 10)} ${pad(m.id, 10)}  ${oct(p.mode)} ${pad(m.nsems, 10)} ${pad(p.uid, 5)} ${pad(p.gid, 5)} ${pad(p.cuid, 5)} ${pad(p.cgid, 5)} ${pad(m.otime, 10)} ${pad(m.ctime, 10)}\n`;
  }
  return s;
}

function msgText(k: object): string {
  let s = '       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n';
  for (const q of ipcNamespaceIfAny(k)?.msg.all() ?? []) {
    const p = q.perm;
    s += `${pad(p.key | 0, 10)} ${pad(q.id, 10)}  ${oct(p.mode)}  ${pad(q.cbytes, 10)} ${pad(q.messages.length, 10)} ${pad(q.lspid, 5)} ${pad(q.lrpid, 5)} ${pad(p.uid, 5)} ${pad(p.gid, 5)} ${pad(p.cuid, 5)} ${pad(p.cgid, 5)} ${pad(q.stime, 10)} ${pad(q.rtime, 10)} ${pad(q.ctime, 10)}\n`;
  }
  return s;
}

export function sysvipcDir(k: object): ProcDir {
  return staticDir({
    msg: () => textFile(() => msgText(k)),
    sem: () => textFile(() => semText(k)),
    shm: () => textFile(() => shmText(k)),
  });
}
