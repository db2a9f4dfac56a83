// struct sockaddr_un: sun_family (2 bytes), then sun_path (at most 108 bytes). A path name ends at
// its first NUL (or at the address's end); an abstract name starts with a NUL and is every byte of
// the address after it; an address of just the family asks for an automatic (abstract) name.

import { EINVAL } from '../../abi/errno';
import { AF_UNIX } from '../constants';

/** offsetof(struct sockaddr_un, sun_path). */
export const SUN_PATH_OFFSET = 2;
/** sizeof(struct sockaddr_un). */
export const SOCKADDR_UN_SIZE = 110;

export type UnixName =
  | { kind: 'path'; path: string }
  | { kind: 'abstract'; key: string }
  | { kind: 'auto' };

function family(a: Uint8Array): number {
  return a.length >= 2 ? a[0] | (a[1] << 8) : -1;
}

/** bind(2)'s view of an address (unix_bind then unix_validate_addr). */
export function parseBindAddress(a: Uint8Array): UnixName | number {
  if (a.length === SUN_PATH_OFFSET && family(a) === AF_UNIX) return { kind: 'auto' };
  return parseAddress(a);
}

/** connect(2)/sendto(2)'s view: a path or an abstract name, EINVAL otherwise. */
export function parseAddress(a: Uint8Array): UnixName | number {
  if (a.length <= SUN_PATH_OFFSET || a.length > SOCKADDR_UN_SIZE || family(a) !== AF_UNIX) return -EINVAL;
  if (a[SUN_PATH_OFFSET] === 0) return { kind: 'abstract', key: latin1(a.subarray(SUN_PATH_OFFSET + 1)) };
  const rest = a.subarray(SUN_PATH_OFFSET);
  const nul = rest.indexOf(0);
  return { kind: 'path', path: latin1(nul < 0 ? rest : rest.subarray(0, nul)) };
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
}

/** The address getsockname reports for a path: the family, the path and its NUL. */
export function pathAddress(path: string): Uint8Array {
  const p = Buffer.from(path, 'latin1');
  const a = new Uint8Array(SUN_PATH_OFFSET + p.length + 1);
  a[0] = AF_UNIX;
  a.set(p, SUN_PATH_OFFSET);
  return a;
}

/** An abstract name's address: the family, a NUL, the name's bytes. */
export function abstractAddress(key: string): Uint8Array {
  const p = Buffer.from(key, 'latin1');
  const a = new Uint8Array(SUN_PATH_OFFSET + 1 + p.length);
  a[0] = AF_UNIX;
  a.set(p, SUN_PATH_OFFSET + 1);
  return a;
}

/** What an unbound socket's getsockname and an unnamed peer's address are: the family alone. */
export function unnamedAddress(): Uint8Array {
  return new Uint8Array([AF_UNIX, 0]);
}
