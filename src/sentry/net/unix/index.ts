// AF_UNIX, registered with the socket layer.

import { EPROTONOSUPPORT, ESOCKTNOSUPPORT } from '../../abi/errno';
import type { Task } from '../../kernel/task';
import { AF_UNIX, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET, SOCK_STREAM } from '../constants';
import { registerSocketFamily } from '../socket';
import { newUnixSocket, unixPair } from './unix-socket';

/** unix_create's checks: protocol 0 (or PF_UNIX), a type it has (SOCK_RAW is taken as SOCK_DGRAM). */
function unixType(type: number, protocol: number): number {
  if (protocol !== 0 && protocol !== AF_UNIX) return -EPROTONOSUPPORT;
  if (type === SOCK_RAW) return SOCK_DGRAM;
  if (type === SOCK_STREAM || type === SOCK_DGRAM || type === SOCK_SEQPACKET) return type;
  return -ESOCKTNOSUPPORT;
}

export function registerUnix(): void {
  registerSocketFamily(AF_UNIX, {
    create(t: Task, type: number, protocol: number, flags: number) {
      const ty = unixType(type, protocol);
      return ty < 0 ? ty : newUnixSocket(t, ty, flags);
    },
    pair(t: Task, type: number, protocol: number, flags: number) {
      const ty = unixType(type, protocol);
      return ty < 0 ? ty : unixPair(t, ty, flags);
    },
  });
}
