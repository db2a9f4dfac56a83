import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgs, str, bool } from '../../src/cli/args';
import { parseSignal } from '../../src/runtime/signals';
import { parseProcStat } from '../../src/state/process';
import { validateId } from '../../src/state/store';
import { selectPlatform } from '../../src/platform';

test('flags as runc callers send them', () => {
  const p = parseArgs(['--bundle', '/b', '-pid-file=/p', '--no-pivot', 'id1'], [
    { name: 'bundle', alias: 'b', type: 'string' },
    { name: 'pid-file', type: 'string' },
    { name: 'no-pivot', type: 'bool' },
  ]);
  assert.equal(str(p, 'bundle'), '/b');
  assert.equal(str(p, 'pid-file'), '/p');
  assert.equal(bool(p, 'no-pivot'), true);
  assert.deepEqual(p.positionals, ['id1']);
  assert.throws(() => parseArgs(['--nope'], []), /unknown flag --nope/);
  assert.throws(() => parseArgs(['--bundle'], [{ name: 'bundle', type: 'string' }]), /needs a value/);
  const g = parseArgs(['--root', '/r', 'do', '--', 'ls', '-l'], [{ name: 'root', type: 'string' }], { stopAtPositional: true });
  assert.deepEqual(g.positionals, ['do', '--', 'ls', '-l']);
});

test('signals by name, number and real-time offset', () => {
  assert.equal(parseSignal('KILL'), 9);
  assert.equal(parseSignal('SIGTERM'), 15);
  assert.equal(parseSignal('sigusr1'), 10);
  assert.equal(parseSignal('9'), 9);
  assert.equal(parseSignal('RTMIN+2'), 36);
  assert.equal(parseSignal('SIGRTMAX'), 64);
  assert.throws(() => parseSignal('FOO'), /unknown signal "FOO"/);
  assert.throws(() => parseSignal('0'), /unknown signal/);
  assert.throws(() => parseSignal('65'), /unknown signal/);
});

test('/proc/PID/stat parsing survives a comm with spaces and parentheses', () => {
  const st = parseProcStat('42 (a b) c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10');
  assert.deepEqual(st, { state: 'S', ppid: 1, startTime: '987654' });
});

test('container ids', () => {
  assert.equal(validateId('abc-1.2_3+x'), 'abc-1.2_3+x');
  for (const bad of ['', '.', '..', 'a/b', 'a b', '../x', 'x'.repeat(1025)]) assert.throws(() => validateId(bad), /invalid container id/);
});

test('platform selection: the operator flag wins over the annotation', () => {
  assert.equal(selectPlatform(undefined, {}), 'native');
  assert.equal(selectPlatform(undefined, { 'dev.moat.isolation': 'vm' }), 'vm');
  assert.equal(selectPlatform('sentry', { 'dev.moat.isolation': 'native' }), 'sentry');
  assert.throws(() => selectPlatform('kvm', {}), /unknown isolation "kvm"/);
  assert.throws(() => selectPlatform(undefined, { 'dev.moat.isolation': 'x' }), /annotations.dev.moat.isolation/);
});

test('--log and --log-format are found even when the global flags do not parse', async () => {
  const { lenientLogFlags } = await import('../../src/cli/args');
  assert.deepEqual(lenientLogFlags(['--no-such-flag', '--root', '/r', '--log', '/x/log.json', '--log-format=json', 'create', '--log', 'no']), { log: '/x/log.json', logFormat: 'json' });
  assert.deepEqual(lenientLogFlags(['-log=/l', 'state', 'id']), { log: '/l' });
  assert.deepEqual(lenientLogFlags(['--log']), {});
});
