// The interface ioctls any socket answers (dev_ioctl): SIOCGIFCONF, SIOCGIFFLAGS, SIOCGIFADDR, …
// read from the namespace's real interfaces through a host control socket of the sentry's. Only
// the read ("G") requests exist here; every set request is EPERM, as without CAP_NET_ADMIN.

import { EFAULT, EINVAL, EPERM } from '../abi/errno';
import type { Task } from '../kernel/task';
import { netSys } from './host';

const SIOCGIFNAME = 0x8910;
const SIOCGIFCONF = 0x8912;
const SIOCGIFFLAGS = 0x8913;
const SIOCGIFADDR = 0x8915;
const SIOCGIFDSTADDR = 0x8917;
const SIOCGIFBRDADDR = 0x8919;
const SIOCGIFNETMASK = 0x891b;
const SIOCGIFMETRIC = 0x891d;
const SIOCGIFMTU = 0x8921;
const SIOCGIFHWADDR = 0x8927;
const SIOCGIFINDEX = 0x8933;
const SIOCGIFTXQLEN = 0x8942;
const GETS = new Set([SIOCGIFNAME, SIOCGIFFLAGS, SIOCGIFADDR, SIOCGIFDSTADDR, SIOCGIFBRDADDR, SIOCGIFNETMASK, SIOCGIFMETRIC, SIOCGIFMTU, SIOCGIFHWADDR, SIOCGIFINDEX, SIOCGIFTXQLEN]);
/** SIOCSIF*, SIOCADDRT/DELRT, SIOCSARP … (0x8900-0x89ff but not the gets above). */
const isSet = (cmd: number) => cmd >= 0x8900 && cmd <= 0x89ff && !GETS.has(cmd) && cmd !== SIOCGIFCONF;

const IFREQ = 40;
const IFCONF_MAX = 64 * 1024;
let controlFd = -1;
const ifreq = new Uint8Array(IFREQ);

function control(): number {
  if (controlFd < 0) controlFd = netSys().sockOpen(2, 2, 0); // AF_INET, SOCK_DGRAM
  return controlFd;
}

/** An interface ioctl's result, or undefined if cmd is not one (the caller goes on). */
export function netdevIoctl(t: Task, cmd: number, arg: number): number | undefined {
  if (cmd === SIOCGIFCONF) return ifconf(t, arg);
  if (GETS.has(cmd)) {
    const fd = control();
    if (fd < 0) return fd;
    const src = t.mm.read(arg, IFREQ);
    if (!src) return -EFAULT;
    ifreq.set(src);
    const r = netSys().ifIoctl(fd, cmd, ifreq);
    if (r < 0) return r;
    return t.mm.write(arg, ifreq) ? 0 : -EFAULT;
  }
  if (isSet(cmd)) return -EPERM;
  return undefined;
}

/** struct ifconf { int ifc_len; char *ifc_buf; }: a NULL buffer asks for the length needed. */
function ifconf(t: Task, arg: number): number {
  const hdr = t.mm.read(arg, 16);
  if (!hdr) return -EFAULT;
  const dv = new DataView(hdr.buffer, hdr.byteOffset, 16);
  const len = dv.getInt32(0, true);
  const buf = dv.getUint32(8, true) + dv.getUint32(12, true) * 0x1_0000_0000;
  if (buf !== 0 && len < 0) return -EINVAL;
  const fd = control();
  if (fd < 0) return fd;
  const room = buf === 0 ? IFCONF_MAX : Math.min(len, IFCONF_MAX) - (Math.min(len, IFCONF_MAX) % IFREQ);
  // Room for no whole entry: Linux writes none and says 0 (the host, handed an empty buffer, would
  // answer the length it needs instead).
  if (room === 0) return t.mm.writeU32(arg, 0) ? 0 : -EFAULT;
  const out = new Uint8Array(room);
  const n = netSys().ifConf(fd, out);
  if (n < 0) return n;
  if (n > room) return -EINVAL; // the host wrote past what it was given: never hand that on
  if (buf !== 0 && n > 0 && !t.mm.write(buf, out.subarray(0, n))) return -EFAULT;
  return t.mm.writeU32(arg, n) ? 0 : -EFAULT;
}
