// A stand-in for a sentry taken over (test/integration/sentry-confine.test.ts): this Node process
// confines itself through the sentry's own code path (confineSentry of src/sentry/confine/, the
// call main.ts makes) and then does what an attacker in the sentry would try with the kill(2) its
// filter must allow (the sentry signals its stubs; a filter cannot look at the target).
//
//   node confined-sentry.js <empty dir> <host uid> <own pid> <forbidden pid>...
//
// kill(pid, 0) of pid 1, of each forbidden pid and of own pid (a process of the same host uid);
// then, only if pid 1 and every forbidden pid were refused (EPERM) — never as a process that could
// still signal the host's — kill(-1, SIGKILL), "every process I may signal". One JSON line out.
import * as fs from 'node:fs';
import { confineSentry } from '../../src/sentry/confine';

function attempt(f: () => void): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

const [dir, uid, own, ...forbidden] = process.argv.slice(2);
const err = confineSentry({ rootDir: dir!, hostUid: Number(uid) });
if (err) {
  fs.writeSync(2, `${err}\n`);
  process.exit(2);
}
const init = attempt(() => process.kill(1, 0));
const others = forbidden.map((p) => attempt(() => process.kill(Number(p), 0)));
const ownProbe = attempt(() => process.kill(Number(own), 0));
const safe = init === 'EPERM' && others.every((r) => r === 'EPERM');
const all = safe ? attempt(() => process.kill(-1, 'SIGKILL')) : 'not tried';
fs.writeSync(1, `${JSON.stringify({ init, others, own: ownProbe, all })}\n`);
process.exit(0);
