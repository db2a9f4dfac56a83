import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execProcessFromFlags, mergeEnv } from '../../src/runtime/exec-process';
import { planExec } from '../../src/policy/plan/exec';
import { CLONE } from '../../src/policy/plan';
import { specTemplate } from '../../src/spec/default';
import { validateSpec } from '../../src/spec/validate';

const spec = () => validateSpec(specTemplate({ rootless: false, hostUid: 0, hostGid: 0 }));
const none = { env: [], additionalGids: [], caps: [], noNewPrivs: false, tty: false };

test('env overrides keep position and replace by key', () => {
  assert.deepEqual(mergeEnv(['A=1', 'B=2'], ['B=3', 'C=4']), ['A=1', 'B=3', 'C=4']);
  assert.throws(() => mergeEnv([], ['NOPE']), /KEY=VALUE/);
});

test('exec process: container defaults with the command line overrides', () => {
  const p = execProcessFromFlags(spec(), { ...none, args: ['ls'], user: '5:6', cwd: '/tmp', caps: ['CAP_CHOWN'] });
  assert.deepEqual(p.args, ['ls']);
  assert.deepEqual([p.user.uid, p.user.gid, p.cwd], [5, 6, '/tmp']);
  assert.ok(p.capabilities?.bounding?.includes('CAP_CHOWN') && p.capabilities.effective?.includes('CAP_KILL'));
  assert.equal(p.noNewPrivileges, true);
  assert.throws(() => execProcessFromFlags(spec(), { ...none, args: ['ls'], user: 'root' }), /--user takes uid\[:gid\]/);
  assert.throws(() => execProcessFromFlags(spec(), { ...none, args: [] }), /name a command/);
  assert.throws(() => execProcessFromFlags(spec(), { ...none, args: ['ls'], cwd: 'rel' }), /--cwd must be absolute/);
});

test('exec plan: joins namespaces user-first mount-last, forks without new namespaces', () => {
  const s = spec();
  const plan = planExec({ initPid: 42, namespaces: ['pid', 'network', 'mount', 'user', 'uts'], process: s.process!, linux: s.linux, preserveFds: 0 });
  assert.deepEqual(plan.parent.map((o) => (o.op === 'setns' ? o.path : o.op)), [
    '/proc/42/ns/user', '/proc/42/ns/uts', '/proc/42/ns/net', '/proc/42/ns/pid', '/proc/42/ns/mnt',
  ]);
  assert.equal(plan.parent[0]!.op === 'setns' && plan.parent[0]!.nstype, CLONE.NEWUSER);
  assert.equal(plan.cloneFlags, 0);
  const names = plan.child.map((o) => o.op);
  assert.ok(!names.includes('pivot-root') && !names.includes('wait-start'));
  assert.deepEqual(names.slice(-2), ['ready', 'exec']);
});

test("exec plan: the container's oomScoreAdj for the new process, as runc does", () => {
  const s = spec();
  const base = { initPid: 42, namespaces: ['pid' as const], process: s.process!, linux: s.linux, preserveFds: 0 };
  assert.deepEqual(planExec(base).parent.map((o) => o.op), ['setns']);
  // First, while /proc/self is the host's: the executor's own score, which the forked process inherits.
  assert.deepEqual(planExec({ ...base, oomScoreAdj: 968 }).parent, [
    { op: 'write', path: '/proc/self/oom_score_adj', data: '968' },
    { op: 'setns', path: '/proc/42/ns/pid', nstype: CLONE.NEWPID },
  ]);
});
