// `uid[:gid]` and byte sizes as users write them, parsed once for the CLI and the SDK. Each caller
// words its own error (flag or option name) and chooses its own defaults.

/** `1000` or `1000:1000` (numbers only; the container's /etc/passwd is never read on the host). */
export function parseUidGid(text: string): { uid: number; gid?: number } | 'syntax' | 'range' {
  const m = /^(\d+)(?::(\d+))?$/.exec(text);
  if (!m) return 'syntax';
  const uid = Number(m[1]);
  const gid = m[2] !== undefined ? Number(m[2]) : undefined;
  // 2^32-1 is (uid_t)-1, "no change" to set*id: never a user.
  if (uid > 0xfffffffe || (gid ?? 0) > 0xfffffffe) return 'range';
  return gid === undefined ? { uid } : { uid, gid };
}

const UNITS = ' kmgtp';

/** `512m`, `1g`, `1.5G`, `4KiB`, `1048576` → bytes, binary units as Docker's RAMInBytes (truncated); undefined if not a size. */
export function parseByteSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) return undefined;
  const n = Math.floor(Number(m[1]) * 1024 ** UNITS.indexOf((m[2] || ' ').toLowerCase()));
  return Number.isSafeInteger(n) ? n : undefined;
}
