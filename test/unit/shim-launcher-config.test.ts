// The C launcher's JSON scanner alone, fuzzed under AddressSanitizer and UBSan (test/shim-launcher/
// config-fuzz.c): config.json is input from containerd's clients, read as root by
// containerd-shim-moat-v2 start (docs/threat-model.md). The comparison with JSON.parse and
// groupOf is test/integration/shim-launcher.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { REPO } from '../helpers/moat';

test('the launcher\'s config.json scanner: 1,000,000 mutated specs and 1 MiB of nesting under ASan and UBSan, no fault', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-config-fuzz-'));
  try {
    const bin = path.join(dir, 'config-fuzz');
    const cc = spawnSync('gcc', ['-std=gnu11', '-O1', '-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-D_GNU_SOURCE', '-Wall', '-Wextra', '-Werror',
      `-I${path.join(REPO, 'native', 'shim-launcher')}`, path.join(REPO, 'test', 'shim-launcher', 'config-fuzz.c'), path.join(REPO, 'native', 'shim-launcher', 'config.c'), '-o', bin], { encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);
    const r = spawnSync(bin, ['1000000'], { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^1000000 cases, \d+ valid JSON; deep: not JSON: nested deeper than 256 levels at byte 256\n$/);
    const valid = Number(/cases, (\d+) valid/.exec(r.stdout)![1]);
    assert.ok(valid > 10_000 && valid < 900_000, 'both valid and invalid JSON among the cases');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
