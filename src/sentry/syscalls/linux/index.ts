// Every syscall family, registered into the dispatch table.

import { register } from './table';
import { sysFutex } from './sys_futex';
import { sysIdentity } from './sys_identity';
import { sysIo } from './sys_io';
import { sysMisc } from './sys_misc';
import { sysMmap } from './sys_mmap';
import { sysProcess } from './sys_process';
import { sysSignal } from './sys_signal';
import { sysTime } from './sys_time';

let done = false;

export function registerAll(): void {
  if (done) return;
  done = true;
  for (const family of [sysIo, sysProcess, sysSignal, sysMmap, sysFutex, sysTime, sysIdentity, sysMisc]) register(family);
}

export { dispatchSyscall, implementedSyscalls, syscallName } from './table';
