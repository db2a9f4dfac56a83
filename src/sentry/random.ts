// The sandbox's random bytes — AT_RANDOM at each exec (loader/), getrandom(2), /dev/random and
// /dev/urandom, the kernel's boot id and uuid — from the host kernel's CSPRNG through the addon
// (getrandom(2), native/bindings/host_random.c), as node:crypto's randomFillSync would give them:
// node:crypto pulls the stream machinery into every sentry, ~5 ms of its start (docs/sentry.md).

import { sys } from '../sys';

/** Fill buf with random bytes; returns it. */
export function randomFill(buf: Uint8Array): Uint8Array {
  const r = sys().hostRandom(buf);
  // getrandom(2) without GRND_NONBLOCK fails only for a bad buffer, which a Uint8Array is not.
  if (r < 0) throw new Error(`getrandom: errno ${-r}`);
  return buf;
}

/** A random (version 4) UUID, as crypto.randomUUID() formats it. */
export function randomUUID(): string {
  const b = randomFill(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
