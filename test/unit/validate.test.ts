import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSpec, validateSpec } from '../../src/spec/validate';
import { specTemplate } from '../../src/spec/default';
import { ConfigError } from '../../src/util/errors';

const base = () => specTemplate({ rootless: false, hostUid: 0, hostGid: 0 }) as Record<string, any>;

function fieldOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.field;
  }
  assert.fail('expected an error');
}

test('the spec template validates and keeps its values', () => {
  const spec = validateSpec(base());
  assert.equal(spec.process?.args[0], 'sh');
  assert.equal(spec.root?.readonly, true);
  assert.equal(spec.mounts.length, 7);
  assert.deepEqual(spec.linux?.namespaces.map((n) => n.type), ['pid', 'network', 'ipc', 'uts', 'mount']);
});

test('malformed JSON names the problem', () => {
  assert.throws(() => parseSpec('{"ociVersion": '), /config.json: \(root\): not valid JSON/);
});

test('mistyped fields are named with their full path', () => {
  const s1 = base();
  s1.process.args = ['sh', 3];
  assert.equal(fieldOf(() => validateSpec(s1)), 'process.args[1]');
  const s2 = base();
  s2.process.user.uid = '0';
  assert.equal(fieldOf(() => validateSpec(s2)), 'process.user.uid');
  const s3 = base();
  s3.mounts[2].options = 'nosuid';
  assert.equal(fieldOf(() => validateSpec(s3)), 'mounts[2].options');
  const s4 = base();
  s4.linux.namespaces.push({ type: 'bogus' });
  assert.equal(fieldOf(() => validateSpec(s4)), 'linux.namespaces[5].type');
  const s5 = base();
  s5.process.cwd = 'relative';
  assert.equal(fieldOf(() => validateSpec(s5)), 'process.cwd');
});

test('missing required fields and bad values are refused', () => {
  const noVersion = base();
  delete noVersion.ociVersion;
  assert.equal(fieldOf(() => validateSpec(noVersion)), 'ociVersion');
  const emptyArgs = base();
  emptyArgs.process.args = [];
  assert.equal(fieldOf(() => validateSpec(emptyArgs)), 'process.args');
  const badEnv = base();
  badEnv.process.env = ['NOEQUALS'];
  assert.equal(fieldOf(() => validateSpec(badEnv)), 'process.env[0]');
  const dupNs = base();
  dupNs.linux.namespaces.push({ type: 'pid' });
  assert.equal(fieldOf(() => validateSpec(dupNs)), 'linux.namespaces[5]');
  const nul = base();
  nul.hostname = 'a\0b';
  assert.equal(fieldOf(() => validateSpec(nul)), 'hostname');
  const longHost = base();
  longHost.hostname = 'x'.repeat(65);
  assert.equal(fieldOf(() => validateSpec(longHost)), 'hostname');
  const rl = base();
  rl.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 5 }];
  assert.equal(fieldOf(() => validateSpec(rl)), 'process.rlimits[0]');
});

test('u64 RLIM_INFINITY is understood', () => {
  const s = base();
  s.process.rlimits = [{ type: 'RLIMIT_CORE', soft: 18446744073709551615, hard: 18446744073709551615 }];
  const spec = validateSpec(s);
  assert.deepEqual(spec.process?.rlimits[0], { type: 'RLIMIT_CORE', soft: -1, hard: -1 });
});

test('unknown fields are ignored, as the runtime-spec requires', () => {
  const s = base();
  s.somethingNew = { x: 1 };
  s.process.futureField = true;
  assert.doesNotThrow(() => validateSpec(s));
});
