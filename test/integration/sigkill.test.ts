// moat killed with SIGKILL at any moment of create, start or run, on every platform: what it
// leaves is reported as created or stopped (never a create nobody is doing), and `delete --force`
// removes all of it (processes, mounts, cgroups, VMs, state). The moments are random within each
// platform's set-up time (the seed is printed: MOAT_SIGKILL_SEED reproduces a run).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { test } from 'node:test';
import * as path from 'node:path';
import { containerSuite, makeBundle, moat, moatDetached, MOAT, waitFor } from '../helpers/moat';

let root: string;
containerSuite((r) => (root = r), () => fs.rmSync(`${root}/@vm`, { recursive: true, force: true }));

const hasKernel = fs.existsSync('/boot') && fs.readdirSync('/boot').some((n) => /^vmlinuz-.*-cloud-amd64$/.test(n));
const seed = Number(process.env.MOAT_SIGKILL_SEED ?? Date.now() % 100_000);
let state = seed;
/** A small deterministic PRNG (mulberry32): the moments are reproducible from the seed. */
function random(): number {
  state = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/** Spawn moat, SIGKILL it after delayMs (if still running); resolves once it is gone. */
async function killedAfter(args: string[], delayMs: number): Promise<void> {
  const child = spawn(MOAT, ['--root', root, ...args], { stdio: 'ignore' });
  const exited = new Promise((r) => child.once('exit', r));
  await Promise.race([exited, new Promise((r) => setTimeout(r, delayMs))]);
  child.kill('SIGKILL');
  await exited;
}

function checkAndDelete(id: string, what: string): void {
  const st = moat(root, ['state', id]);
  if (st.status === 0) {
    // Whatever phase it reached, the state never claims a create that nobody is doing.
    const status = JSON.parse(st.stdout).status;
    assert.ok(['created', 'running', 'stopped'].includes(status), `${id} (${what}): status ${status}`);
  } else {
    assert.match(st.stderr, /does not exist/);
  }
  const del = moat(root, ['delete', '--force', id], { timeoutMs: 120_000 });
  assert.equal(del.status, 0, `${id} (${what}): ${del.stderr}`);
  assert.equal(moat(root, ['state', id]).status, 1);
}

const PLATFORMS = [
  // [platform, set-up time to spread the kills over (ms), kills per command]
  ['native', 250, 6],
  ['sentry', 1500, 5],
  ['vm', 12_000, 3],
] as const;

for (const [platform, spanMs, n] of PLATFORMS) {
  const skip = platform === 'vm' && !hasKernel ? 'no guest kernel' : false;
  test(`SIGKILL of moat create, start and run (${platform}) at random moments, then delete --force: nothing is left`, { skip, timeout: 900_000 }, async (t) => {
    t.diagnostic(`seed ${seed} (MOAT_SIGKILL_SEED)`);
    const b = makeBundle(['sleep', '30']);
    const g = platform === 'native' ? [] : [`--isolation=${platform}`];
    try {
      for (let i = 0; i < n; i++) {
        // create, killed at a random moment.
        const c = `${platform}-create-${i}`;
        const atCreate = i === 0 ? 0 : Math.round(random() * spanMs);
        await killedAfter([...g, 'create', '--bundle', b.dir, c], atCreate);
        checkAndDelete(c, `create killed at ${atCreate} ms`);
        // start, killed at a random moment after a complete create.
        const s = `${platform}-start-${i}`;
        // (Its container keeps moat's stdio: a file, never a pipe that would not end.)
        const made = moatDetached(root, [...g, 'create', '--bundle', b.dir, s], path.join(b.dir, 'create.log'), 180_000);
        assert.equal(made.status, 0, made.stderr);
        const atStart = Math.round(random() * Math.min(spanMs, 500));
        await killedAfter([...g, 'start', s], atStart);
        checkAndDelete(s, `start killed at ${atStart} ms`);
        // run (create + start + wait), killed at a random moment.
        const r = `${platform}-run-${i}`;
        const atRun = Math.round(random() * spanMs * 1.5);
        await killedAfter([...g, 'run', '--bundle', b.dir, r], atRun);
        checkAndDelete(r, `run killed at ${atRun} ms`);
      }
      await waitFor('the state root to be empty', () => fs.readdirSync(root).filter((n) => n !== '@vm').length === 0);
    } finally {
      // A failed assertion above must not leave its containers behind for the next test.
      for (const id of fs.readdirSync(root).filter((n) => n !== '@vm')) moat(root, [...g, 'delete', '--force', id], { timeoutMs: 120_000 });
      b.cleanup();
    }
  });
}
