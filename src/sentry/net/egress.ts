// The egress policy (annotation dev.moat.network.egress): where the sandbox's sockets may connect
// and send. Enforced by the sentry on connect, sendto and sendmsg of AF_INET/AF_INET6 sockets
// (TCP and UDP); a denied destination fails with EACCES. Pure: parsed at create time (to refuse a
// bad value naming the annotation) and again in the sentry.
//
//   all                      everything (the default; what runc does)
//   none                     nothing, loopback included (with host networking loopback is the host's)
//   loopback                 127.0.0.0/8 and ::1 only
//   RULE[,RULE…]             RULE: loopback | ADDR[/LEN][:PORT[-PORT]] | [IPV6ADDR[/LEN]][:PORT[-PORT]]
//                            e.g. 10.0.0.0/8, 192.168.1.5:443, [2001:db8::/32]:80-89, fd00::/8

export const EGRESS_ANNOTATION = 'dev.moat.network.egress';

export interface EgressRule {
  /** 4 or 16 bytes. */
  addr: Uint8Array;
  prefix: number;
  portLo: number;
  portHi: number;
}

export interface EgressPolicy {
  all: boolean;
  rules: EgressRule[];
}

const MAX_LENGTH = 8192;
const MAX_RULES = 256;

const LOOPBACK: EgressRule[] = [
  { addr: Uint8Array.of(127, 0, 0, 0), prefix: 8, portLo: 0, portHi: 65535 },
  { addr: Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), prefix: 128, portLo: 0, portHi: 65535 },
];

/** Parse the annotation's value; throws an Error saying what is wrong with it. */
export function parseEgress(value: string | undefined): EgressPolicy {
  if (value === undefined) return { all: true, rules: [] };
  if (typeof value !== 'string' || value.length > MAX_LENGTH) throw new Error(`a string of at most ${MAX_LENGTH} characters is expected`);
  const v = value.trim();
  if (v === 'all') return { all: true, rules: [] };
  if (v === 'none') return { all: false, rules: [] };
  if (v === '') throw new Error('empty (use all, none, loopback or a list of CIDR[:port])');
  const items = v.split(',');
  if (items.length > MAX_RULES) throw new Error(`more than ${MAX_RULES} entries`);
  const rules: EgressRule[] = [];
  for (const raw of items) {
    const item = raw.trim();
    if (item === 'loopback') rules.push(...LOOPBACK);
    else rules.push(parseRule(item));
  }
  return { all: false, rules };
}

function parseRule(item: string): EgressRule {
  let host: string;
  let port: string | undefined;
  if (item.startsWith('[')) {
    const end = item.indexOf(']');
    if (end < 0) throw new Error(`${JSON.stringify(item)}: missing ]`);
    host = item.slice(1, end);
    const rest = item.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) throw new Error(`${JSON.stringify(item)}: expected :PORT after ]`);
    if (rest !== '') port = rest.slice(1);
  } else if (item.includes('::') || item.split(':').length > 2) {
    host = item; // IPv6 without a port (a port needs the brackets)
  } else {
    const c = item.indexOf(':');
    host = c < 0 ? item : item.slice(0, c);
    if (c >= 0) port = item.slice(c + 1);
  }
  const slash = host.indexOf('/');
  const addrText = slash < 0 ? host : host.slice(0, slash);
  const addr = parseIPv4(addrText) ?? parseIPv6(addrText);
  if (!addr) throw new Error(`${JSON.stringify(item)}: not an IPv4 or IPv6 address`);
  const max = addr.length * 8;
  let prefix = max;
  if (slash >= 0) {
    const p = host.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) throw new Error(`${JSON.stringify(item)}: prefix length must be 0-${max}`);
    prefix = Number(p);
  }
  const [portLo, portHi] = port === undefined ? [0, 65535] : parsePorts(item, port);
  // ::ffff:a.b.c.d/96+ is an IPv4 rule (destinations are matched in their IPv4 form).
  if (addr.length === 16 && prefix >= 96 && canonicalDest(addr).length === 4 && addr[10] === 0xff) {
    return { addr: addr.slice(12), prefix: prefix - 96, portLo, portHi };
  }
  return { addr, prefix, portLo, portHi };
}

function parsePorts(item: string, text: string): [number, number] {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
  if (!m || lo < 1 || hi > 65535 || hi < lo) throw new Error(`${JSON.stringify(item)}: port must be 1-65535 or a range LO-HI`);
  return [lo, hi];
}

export function parseIPv4(s: string): Uint8Array | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i]) || Number(parts[i]) > 255) return null;
    out[i] = Number(parts[i]);
  }
  return out;
}

export function parseIPv6(s: string): Uint8Array | null {
  if (s.length === 0 || s.length > 45) return null;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIPv4(p);
        if (!v4) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return null;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return null;
  const all = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = all[i] >> 8;
    out[2 * i + 1] = all[i] & 0xff;
  }
  return out;
}

/**
 * The address a connect really reaches, as the matcher sees it: IPv4-mapped IPv6 (::ffff:a.b.c.d)
 * is IPv4, and the unspecified address (0.0.0.0, ::) is loopback, as Linux connects it.
 */
export function canonicalDest(addr: Uint8Array): Uint8Array {
  if (addr.length === 16) {
    let mapped = addr[10] === 0xff && addr[11] === 0xff;
    for (let i = 0; i < 10 && mapped; i++) if (addr[i] !== 0) mapped = false;
    if (mapped) return canonicalDest(addr.subarray(12, 16));
    if (addr.every((b) => b === 0)) return LOOPBACK[1].addr;
    return addr;
  }
  if (addr[0] === 0 && addr[1] === 0 && addr[2] === 0 && addr[3] === 0) return Uint8Array.of(127, 0, 0, 1);
  return addr;
}

function inPrefix(rule: EgressRule, a: Uint8Array): boolean {
  if (rule.addr.length !== a.length) return false;
  let bits = rule.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((rule.addr[i] & mask) !== (a[i] & mask)) return false;
  }
  return true;
}

/** Whether the policy lets a socket connect or send to addr (4 or 16 bytes) and port. */
export function egressAllowed(p: EgressPolicy, addr: Uint8Array, port: number): boolean {
  if (p.all) return true;
  const a = canonicalDest(addr);
  for (const r of p.rules) if (port >= r.portLo && port <= r.portHi && inPrefix(r, a)) return true;
  return false;
}

export function formatDest(addr: Uint8Array, port: number): string {
  const a = canonicalDest(addr);
  if (a.length === 4) return `${a.join('.')}:${port}`;
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((a[i] << 8) | a[i + 1]).toString(16));
  return `[${g.join(':')}]:${port}`;
}
