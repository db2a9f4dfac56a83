// SandboxPool: N warm, handed out once each, replenished after release, waiters served in order,
// close ending everything (native); the same on the sentry, a pool of one, closed by `await using`
// (the vm's in vm.test.ts).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { containerSuite, waitFor } from '../helpers/moat';
import { SandboxPool, StateError, UsageError, type Sandbox } from '../../src/sdk';
import { sharedRootfs } from './helpers';

let root = '';
containerSuite((r) => (root = r));

test('pool: size warm, never handed out twice, replenished, waiters served, close ends all', async () => {
  const shared = sharedRootfs();
  const pool = new SandboxPool({ size: 2, isolation: 'native', rootfs: shared.rootfs, root });
  try {
    await pool.ready();
    assert.equal(pool.available, 2);
    const a = await pool.acquire();
    const b = await pool.acquire();
    let third: Sandbox | undefined;
    const waiting = pool.acquire().then((s) => (third = s));
    // The pool makes more for the waiter; released ones are closed, never handed out again.
    await pool.release(a);
    await assert.rejects(a.run(['true']), StateError);
    await waiting;
    assert.ok(third && third !== a && third !== b);
    assert.equal((await third.run(['echo', 'ok'])).stdout.toString(), 'ok\n');
    await waitFor('the pool to be warm again', () => pool.available === 2, 30_000);
    // use() releases also when its function throws.
    let used: Sandbox | undefined;
    await assert.rejects(pool.use(async (s) => {
      used = s;
      throw new Error('boom');
    }), /boom/);
    await assert.rejects(used!.run(['true']), StateError);
    const ids = new Set([a.id, b.id, third.id, used!.id]);
    assert.equal(ids.size, 4, 'every hand-out a fresh sandbox');
    await pool.close();
    await assert.rejects(b.run(['true']), StateError, 'handed-out sandboxes are closed with the pool');
    await assert.rejects(pool.acquire(), StateError);
  } finally {
    await pool.close();
    shared.cleanup();
  }
  assert.throws(() => new SandboxPool({ size: 0, rootfs: '/x' }), UsageError);
});

test('pool (sentry): a warm sandbox runs, a fresh one replaces it; await using closes the pool', async () => {
  const shared = sharedRootfs();
  try {
    let first = '';
    {
      await using pool = new SandboxPool({ size: 1, isolation: 'sentry', rootfs: shared.rootfs, root });
      await pool.ready();
      const out = await pool.use(async (sb) => {
        first = sb.id;
        return (await sb.run(['echo', 'pooled'])).stdout.toString();
      });
      assert.equal(out, 'pooled\n');
      await waitFor('the pool to be warm again', () => pool.available === 1, 30_000);
      const next = await pool.acquire();
      assert.notEqual(next.id, first, 'a fresh sandbox');
      assert.equal(next.isolation, 'sentry');
    }
    assert.deepEqual(fs.readdirSync(root), [], 'the pool closed everything at the end of the block');
  } finally {
    shared.cleanup();
  }
});
