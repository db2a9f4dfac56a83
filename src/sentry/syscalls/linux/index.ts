// Every syscall family, registered into the dispatch table.

import { registerSocketFamilies } from '../../net';
import { register } from './table';
import { sysFutex } from './sys_futex';
import { sysIdentity } from './sys_identity';
import { sysDir } from './sys_dir';
import { sysFile } from './sys_file';
import { sysIo } from './sys_io';
import { sysLock } from './sys_lock';
import { sysMisc } from './sys_misc';
import { sysMmap } from './sys_mmap';
import { sysPoll } from './sys_poll';
import { sysPrio } from './sys_prio';
import { sysProcess } from './sys_process';
import { sysSignal } from './sys_signal';
import { sysSocket } from './sys_socket';
import { sysStat } from './sys_stat';
import { sysTime } from './sys_time';
import { sysSignalfd } from './sys_signalfd';
import { sysTimerfd } from './sys_timerfd';
import { sysXattr } from './sys_xattr';
import { sysPtrace } from './sys_ptrace';
import { sysSplice } from './sys_splice';
import { sysTimer } from './sys_timer';
import { sysIpc } from './sys_ipc';

let done = false;

export function registerAll(): void {
  if (done) return;
  done = true;
  registerSocketFamilies();
  for (const family of [sysIo, sysProcess, sysSignal, sysMmap, sysFutex, sysTime, sysIdentity, sysMisc]) register(family);
  for (const family of [sysFile, sysStat, sysDir, sysPoll, sysXattr, sysPrio, sysTimerfd, sysSignalfd, sysLock, sysSocket, sysPtrace, sysSplice, sysTimer]) register(family);
  register(sysIpc);
}

export { dispatchSyscall, implementedSyscalls, linuxSyscalls, syscallName } from './table';
export { straceTracer } from './strace';
