// The files read out of a process's memory: cmdline and environ (the strings exec put on its
// stack, as the application may since have changed them) and auxv (what exec passed).

import type { MemoryManager } from '../../mm/mm';

type ArgsMm = Pick<MemoryManager, 'read' | 'argStart' | 'argEnd' | 'envStart' | 'envEnd'>;

const EMPTY = new Uint8Array(0);

function readRange(mm: ArgsMm, start: number, end: number): Uint8Array {
  if (end <= start) return EMPTY;
  return mm.read(start, end - start) ?? EMPTY;
}

/**
 * cmdline as get_mm_cmdline reads it: argv's NUL-separated strings; if the last byte of that
 * area is no longer NUL (setproctitle), the text runs on into the environment area up to the
 * first NUL.
 */
export function cmdlineBytes(mm: ArgsMm | undefined): Uint8Array {
  if (!mm || mm.argEnd <= mm.argStart) return EMPTY;
  const last = mm.read(mm.argEnd - 1, 1);
  if (!last) return EMPTY;
  if (last[0] === 0) return readRange(mm, mm.argStart, mm.argEnd);
  const end = mm.envStart === mm.argEnd && mm.envEnd >= mm.envStart ? mm.envEnd : mm.argEnd;
  const all = readRange(mm, mm.argStart, end);
  const nul = all.indexOf(0);
  return nul >= 0 ? all.subarray(0, nul + 1) : all;
}

export function environBytes(mm: ArgsMm | undefined): Uint8Array {
  return mm ? readRange(mm, mm.envStart, mm.envEnd) : EMPTY;
}

/** auxv: (type, value) pairs of native-endian u64, ending with AT_NULL. */
export function auxvBytes(mm: Pick<MemoryManager, 'auxv'> | undefined): Uint8Array {
  if (!mm) return EMPTY;
  const pairs = [...mm.auxv];
  if (pairs.length === 0) return EMPTY;
  if (pairs[pairs.length - 1][0] !== 0) pairs.push([0, 0]);
  const b = new Uint8Array(pairs.length * 16);
  const dv = new DataView(b.buffer);
  pairs.forEach(([k, v], i) => {
    dv.setBigUint64(i * 16, BigInt.asUintN(64, BigInt(Math.trunc(k))), true);
    dv.setBigUint64(i * 16 + 8, BigInt.asUintN(64, BigInt(Math.trunc(v))), true);
  });
  return b;
}
