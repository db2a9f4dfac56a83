import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgs, str, bool } from '../../src/cli/args';
import { parseSignal } from '../../src/runtime/signals';
import { parseProcStat } from '../../src/state/process';
import { validateId } from '../../src/state/store';
import { selectPlatform } from '../../src/platform';
import { SandboxEnder } from '../../src/runtime/ending';
import { parseDuration } from '../../src/util/duration';

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

test('durations: Go units, bare seconds where allowed, zero only where allowed, bounded', () => {
  assert.equal(parseDuration('3s', '--grace'), 3000);
  assert.equal(parseDuration('1m30s', '--grace'), 90_000);
  assert.equal(parseDuration('250ms', '--grace'), 250);
  assert.equal(parseDuration('10', '--grace', { bareSeconds: true }), 10_000);
  assert.equal(parseDuration('0.5', '--grace', { bareSeconds: true }), 500);
  assert.equal(parseDuration('0', '--grace', { bareSeconds: true, allowZero: true }), 0);
  assert.throws(() => parseDuration('10', '--grace'), /--grace: "10" is not a duration/);
  assert.throws(() => parseDuration('0s', '--grace'), /--grace must be positive/);
  assert.throws(() => parseDuration('-1s', '--grace', { allowZero: true }), /not a duration/);
  assert.throws(() => parseDuration('3s ', '--grace'), /not a duration/);
  assert.throws(() => parseDuration('25h', '--grace'), /longer than 24h/);
});

test('the sandbox ender: first signal forwarded and grace started, a second kills, exit 128+first', () => {
  const events: string[] = [];
  let fire: (() => void) | undefined;
  const timer = (fn: () => void, ms: number) => {
    events.push(`timer ${ms}`);
    fire = fn;
    return setTimeout(() => undefined, 0);
  };
  const target = { forward: (s: number) => events.push(`forward ${s}`), kill: () => events.push('kill') };

  // The sandbox ends on its own within the grace period: its own status.
  const a = new SandboxEnder(3000, timer);
  a.attach(target);
  a.receive(15);
  a.detach();
  assert.deepEqual(events.splice(0), ['forward 15', 'timer 3000']);
  assert.equal(a.exitCode(7), 7);

  // The grace period runs out: killed once, 128+signal.
  const b = new SandboxEnder(1000, timer);
  b.attach(target);
  b.receive(1);
  fire!();
  fire!();
  assert.deepEqual(events.splice(0), ['forward 1', 'timer 1000', 'kill']);
  assert.equal(b.exitCode(137), 129);

  // A second signal kills at once; the status names the first.
  const c = new SandboxEnder(60_000, timer);
  c.attach(target);
  c.receive(15);
  c.receive(2);
  c.receive(2);
  assert.deepEqual(events.splice(0), ['forward 15', 'timer 60000', 'kill']);
  assert.equal(c.exitCode(137), 143);
  c.detach();

  // Grace 0: killed at once. A signal before the sandbox runs: killed when it is attached.
  const d = new SandboxEnder(0, timer);
  d.attach(target);
  d.receive(15);
  assert.deepEqual(events.splice(0), ['forward 15', 'kill']);
  const e = new SandboxEnder(3000, timer);
  e.receive(1);
  assert.deepEqual(events, []);
  assert.equal(e.signal, 1);
  e.attach(target);
  assert.deepEqual(events.splice(0), ['kill']);
  assert.equal(e.exitCode(0), 129);
});
