// The host socket calls the sentry makes for the application's network sockets
// (native/bindings/net.c). Every host socket is non-blocking: a call that would block returns
// -EAGAIN and the caller parks the task. Results are numbers (-errno on failure); the address
// length and msg_flags of the last recv/accept come back in a shared Int32Array, so the per-call
// path allocates nothing.

import { sys, type Sys } from '../../sys';
import { setHostPoller, type HostPoller } from '../vfs/host-poll';

export interface NetSys extends HostPoller {
  netBuffers(aux: Int32Array): void;
  sockOpen(domain: number, type: number, protocol: number): number;
  sockBind(fd: number, addr: Uint8Array, len: number): number;
  sockConnect(fd: number, addr: Uint8Array, len: number): number;
  sockListen(fd: number, backlog: number): number;
  sockAccept(fd: number, addrOut: Uint8Array): number;
  sockSend(fd: number, views: Uint8Array[], flags: number, addr: Uint8Array | null, addrLen: number): number;
  sockRecv(fd: number, views: Uint8Array[], flags: number, addrOut: Uint8Array | null, ctlOut?: Uint8Array | null): number;
  sockGetOpt(fd: number, level: number, name: number, buf: Uint8Array): number;
  sockSetOpt(fd: number, level: number, name: number, buf: Uint8Array, len: number): number;
  sockShutdown(fd: number, how: number): number;
  sockName(fd: number, peer: boolean, buf: Uint8Array): number;
  sockIoctlInt(fd: number, cmd: number): number;
  ifIoctl(fd: number, cmd: number, ifreq: Uint8Array): number;
  ifConf(fd: number, buf: Uint8Array): number;
  pollNow(fd: number, events: number): number;
  netnsEnter(path: string): number;
  loUp(): number;
}

/** aux[0]: address length, aux[1]: msg_flags of the last sockRecv/sockAccept, aux[2]: its control bytes. */
export const netAux = new Int32Array(4);

let cached: NetSys | undefined;

export function netSys(): NetSys {
  if (cached) return cached;
  cached = sys() as Sys & NetSys;
  cached.netBuffers(netAux);
  setHostPoller(cached);
  return cached;
}

export { WATCH_ONLY_OUT, WATCH_OUT, WATCH_SIGNALLED } from '../vfs/file';
