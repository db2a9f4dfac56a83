// moat killed with SIGKILL at any moment of create: what it leaves is reported as stopped and
// `delete` removes all of it (processes, mounts, cgroups, state).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { containerSuite, makeBundle, moat, MOAT, waitFor } from '../helpers/moat';

let root: string;
containerSuite((r) => (root = r));

test('SIGKILL of moat create at many moments, then delete: nothing is left', async () => {
  const b = makeBundle(['sleep', '30']);
  try {
    for (const [i, delayMs] of [0, 10, 25, 40, 60, 80, 110, 150, 220].entries()) {
      const id = `killed-${i}`;
      const child = spawn(MOAT, ['--root', root, 'create', '--bundle', b.dir, id], { stdio: 'ignore' });
      const exited = new Promise((r) => child.once('exit', r));
      await new Promise((r) => setTimeout(r, delayMs));
      child.kill('SIGKILL');
      await exited;
      const st = moat(root, ['state', id]);
      if (st.status === 0) {
        // Whatever phase it reached, the state never claims a create that nobody is doing.
        const status = JSON.parse(st.stdout).status;
        assert.ok(['created', 'stopped'].includes(status), `${id}: status ${status}`);
      } else {
        assert.match(st.stderr, /does not exist/);
      }
      const del = moat(root, ['delete', '--force', id]);
      assert.equal(del.status, 0, `${id}: ${del.stderr}`);
      assert.equal(moat(root, ['state', id]).status, 1);
    }
    await waitFor('the state root to be empty', () => fs.readdirSync(root).length === 0);
  } finally {
    b.cleanup();
  }
});
