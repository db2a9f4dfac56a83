// The container's network in a vm, as Kata does it (docs/vm.md#networking): the VMM runs in the
// network namespace the spec names; for each interface there (a veth from Docker's bridge or a CNI
// plugin) QEMU makes a tap, and tc redirects every frame between the two both ways (mirred), so
// the guest's virtio-net with the interface's MAC, address, MTU and gateway is the interface.

import { spawnSync } from 'node:child_process';
import { MoatError } from '../util/errors';

/** At most this many interfaces are carried into a guest (kernel command line words). */
export const MAX_GUEST_INTERFACES = 4;

export interface GuestInterface {
  /** The interface in the namespace (eth0) and its tap (QEMU creates it; gone with QEMU). */
  name: string;
  tap: string;
  mac: string;
  mtu: number;
  /** First IPv4 address, a.b.c.d/prefix (none: the guest interface stays unconfigured but up). */
  address?: string;
  gateway?: string;
}

interface IpLink {
  ifname: string;
  address?: string;
  mtu?: number;
  link_type?: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
  linkinfo?: { info_kind?: string };
}

function ipIn(netns: string, args: string[]): string {
  const r = spawnSync('nsenter', [`--net=${netns}`, '--', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new MoatError('EVM', `network namespace ${netns}: ${args.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`);
  return r.stdout;
}

/** The interfaces of a namespace worth carrying into the guest: ethernet, not lo, not a tap. Pure. */
export function guestInterfaces(links: IpLink[], routes: { dst?: string; gateway?: string; dev?: string }[]): GuestInterface[] {
  const out: GuestInterface[] = [];
  for (const l of links) {
    if (l.link_type !== 'ether' || l.linkinfo?.info_kind === 'tun' || !/^[A-Za-z0-9_.-]{1,15}$/.test(l.ifname)) continue;
    if (!l.address || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(l.address)) continue;
    const v4 = (l.addr_info ?? []).find((a) => a.family === 'inet');
    const gw = routes.find((r) => r.dst === 'default' && r.dev === l.ifname && r.gateway)?.gateway;
    out.push({
      name: l.ifname,
      tap: `tap${out.length}_moat`,
      mac: l.address.toLowerCase(),
      mtu: Number.isInteger(l.mtu) && l.mtu! >= 68 && l.mtu! <= 65535 ? l.mtu! : 1500,
      ...(v4 && /^[\d.]+$/.test(v4.local) ? { address: `${v4.local}/${v4.prefixlen}` } : {}),
      ...(gw && /^[\d.]+$/.test(gw) ? { gateway: gw } : {}),
    });
  }
  if (out.length > MAX_GUEST_INTERFACES) throw new MoatError('EVM', `network namespace: ${out.length} interfaces; a vm takes at most ${MAX_GUEST_INTERFACES}`);
  return out;
}

/** Read the namespace's interfaces (ip -j). */
export function readNetns(netns: string): GuestInterface[] {
  const links = JSON.parse(ipIn(netns, ['ip', '-j', '-d', 'addr', 'show']) || '[]') as IpLink[];
  const routes = JSON.parse(ipIn(netns, ['ip', '-j', 'route', 'show', 'default']) || '[]') as { dst?: string; gateway?: string; dev?: string }[];
  return guestInterfaces(links, routes);
}

/** The agent's words: moat.ifN=<mac>,<name>,<mtu>,<addr/prefix>[,<gateway>]. Pure. */
export function networkCmdline(ifaces: GuestInterface[]): string {
  return ifaces
    .filter((i) => i.address)
    .map((i, n) => `moat.if${n}=${[i.mac, i.name, i.mtu, i.address, ...(i.gateway ? [i.gateway] : [])].join(',')}`)
    .join(' ');
}

/**
 * The MAC of a template's NIC `i` (02:6d:6f:61:74:0i, "moat", locally administered): the same in
 * every clone until the agent gives it the interface's (the agent's network_restore looks for it).
 */
export function templateMac(i: number): string {
  return `02:6d:6f:61:74:${i.toString(16).padStart(2, '0')}`;
}

/**
 * A guest restored from a template with NICs: RESTORE's words, one per NIC in QEMU's order,
 * moat.ifI=<mac>,<name>,<mtu>[,<addr/prefix>[,<gateway>]] (the interface's MAC for every NIC, even
 * one without an address). Pure.
 */
export function restoreNetworkWords(ifaces: GuestInterface[]): string {
  return ifaces
    .map((i, n) => `moat.if${n}=${[i.mac, i.name, i.mtu, ...(i.address ? [i.address, ...(i.gateway ? [i.gateway] : [])] : [])].join(',')}`)
    .join(' ');
}

/**
 * Once QEMU has made the taps: up, same MTU, and tc mirred both ways (an ingress qdisc on each,
 * every frame redirected to the other's egress). Called before the guest runs its container.
 */
export function connectTaps(netns: string, ifaces: GuestInterface[]): void {
  for (const i of ifaces) {
    ipIn(netns, ['ip', 'link', 'set', 'dev', i.tap, 'mtu', String(i.mtu), 'up']);
    for (const [from, to] of [[i.name, i.tap], [i.tap, i.name]] as const) {
      ipIn(netns, ['tc', 'qdisc', 'replace', 'dev', from, 'ingress']);
      ipIn(netns, ['tc', 'filter', 'add', 'dev', from, 'parent', 'ffff:', 'protocol', 'all', 'u32', 'match', 'u8', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', to]);
    }
  }
}

/** The taps exist (QEMU creates them at its start-up). */
export function tapsExist(netns: string, ifaces: GuestInterface[]): boolean {
  return ifaces.every((i) => spawnSync('nsenter', [`--net=${netns}`, '--', 'ip', 'link', 'show', 'dev', i.tap], { stdio: 'ignore' }).status === 0);
}

/** Remove the redirection from the namespace's interfaces (the taps go with QEMU). Best effort. */
export function disconnectTaps(netns: string, names: string[]): void {
  for (const n of names) spawnSync('nsenter', [`--net=${netns}`, '--', 'tc', 'qdisc', 'del', 'dev', n, 'ingress'], { stdio: 'ignore' });
}
