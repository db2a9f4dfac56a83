// A test's way to make a confined sentry attempt what its filter forbids, and see it die for it
// (test/integration/sentry-confine.test.ts). MOAT_SENTRY_TEST_FORBIDDEN in moat's environment —
// the operator's, never the container's — names the call: `execve` or `socket-packet` (the sentry
// is killed), `openat` (refused with EACCES, the sandbox runs on; anything else fails it).
// It runs once, right after the filter is in force, before the application's first instruction.
// Without the filter it does no harm either: an exec of /bin/true that would replace the sentry
// (the container fails to start), an open of /etc/passwd in the empty root (ENOENT), a packet
// socket (closed at once).

import { sentrySys } from '../native';

const CALLS = new Set(['execve', 'openat', 'socket-packet']);

/** Returns an error text if the call came back (the filter did not stop it), else nothing. */
export function runForbiddenCallHook(): string | undefined {
  const what = process.env.MOAT_SENTRY_TEST_FORBIDDEN;
  if (!what || !CALLS.has(what)) return undefined;
  const r = sentrySys().forbiddenCall(what);
  // open is refused (EACCES), not killed (profile.ts): the sandbox then runs on.
  if (what === 'openat' && r === -13) return undefined;
  return `test hook: the forbidden ${what} returned ${r} instead of killing the sentry`;
}
