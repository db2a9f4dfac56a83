// The service's wire (src/service/wire.ts) and its choice of what to serve (src/service/claim.ts):
// hostile requests refused with a reason, never a crash; only native, fast commands served.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { serves } from '../../src/service/claim';
import { FrameReader, MAX_FRAME, parseRequest, REQUEST, WireError } from '../../src/service/wire';

function payload(strings: string[], argc: number, envc: number): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(argc, 0);
  head.writeUInt32LE(envc, 4);
  return Buffer.concat([head, ...strings.map((s) => Buffer.from(s + '\0'))]);
}

test('a request: cwd, argv and env, each bounded and checked', () => {
  assert.deepEqual(parseRequest(payload(['/tmp', 'state', 'x', 'A=1', 'B=x=y'], 2, 2)), { cwd: '/tmp', argv: ['state', 'x'], env: Object.assign(Object.create(null), { A: '1', B: 'x=y' }) });
  const bad: [Buffer, RegExp][] = [
    [Buffer.alloc(3), /shorter than its header/],
    [payload(['/tmp', 'a'], 2, 0), /1 \+ 2|2 strings, expected 3/],
    [payload(['tmp'], 0, 0), /not an absolute path/],
    [payload(['/', 'NOEQ'], 0, 1), /not KEY=VALUE/],
    [payload(['/'], 100000, 0), /100000 arguments/],
    [payload(['/'], 0, 100000), /100000 environment variables/],
    [Buffer.concat([payload(['/'], 1, 0), Buffer.from('no-nul')]), /without its NUL/],
  ];
  for (const [p, re] of bad) assert.throws(() => parseRequest(p), (e: Error) => e instanceof WireError && re.test(e.message));
});

test('frames: split anywhere, too long or empty refused', () => {
  const f = Buffer.from([3, 0, 0, 0, REQUEST, 1, 2, 5, 0, 0, 0, 0x47, 9, 9, 9, 9]);
  const r = new FrameReader();
  const got = [];
  for (const b of f) got.push(...r.push(Buffer.from([b])));
  assert.deepEqual(got.map((x) => [x.type, [...x.payload]]), [[REQUEST, [1, 2]], [0x47, [9, 9, 9, 9]]]);
  const big = Buffer.alloc(5);
  big.writeUInt32LE(MAX_FRAME + 1, 0);
  assert.throws(() => new FrameReader().push(big), WireError);
  assert.throws(() => new FrameReader().push(Buffer.alloc(5)), WireError);
});

test('what the service takes: native lifecycle and read-only commands; the rest goes to Node before anything is done', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-claim-'));
  const bundle = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-claim-b-'));
  try {
    fs.mkdirSync(path.join(root, 'vmc'));
    fs.writeFileSync(path.join(root, 'vmc', 'state.json'), JSON.stringify({ platform: 'vm' }));
    const req = (argv: string[], env: Record<string, string> = {}) => serves({ cwd: bundle, argv: ['--root', root, ...argv], env });
    for (const a of [['state', 'x'], ['list'], ['kill', 'x', 'KILL'], ['delete', '--force', 'x'], ['start', 'x'], ['pause', 'x'], ['resume', 'x'], ['ps', '--format', 'json', 'x'], ['state', 'vmc'], ['create', 'x']]) assert.equal(req(a), true, a.join(' '));
    for (const a of [['exec', 'x', 'sh'], ['do', 'true'], ['events', 'x'], ['update', 'x'], ['spec'], ['features'], ['kill', 'vmc'], ['delete', 'vmc'], ['--version'], ['--isolation=sentry', 'create', 'x'], ['service']]) assert.equal(req(a), false, a.join(' '));
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ process: { terminal: true }, annotations: {} }));
    assert.equal(req(['run', 'x']), false, 'a foreground terminal');
    assert.equal(req(['run', '--console-socket', 's', 'x']), true);
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ process: {}, annotations: { 'dev.moat.isolation': 'vm' } }));
    assert.equal(req(['create', 'x']), false, 'a vm bundle');
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ process: {}, annotations: { 'dev.moat.lxcfs': 'true' } }));
    assert.equal(req(['create', 'x']), false, 'lxcfs');
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ process: {}, annotations: {} }));
    assert.equal(req(['create', 'x'], { MOAT_LXCFS: '/x' }), false);
    assert.equal(req(['create', 'x']), true);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(bundle, { recursive: true, force: true });
  }
});
