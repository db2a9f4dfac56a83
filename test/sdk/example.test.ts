// examples/python-service.ts: posted Python runs in a pooled sentry sandbox (the Debian apps
// rootfs, cached outside the repository) under its limits: output, a loop timed out, a memory hog
// killed, output cut, concurrent requests; nothing left once the service is closed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { containerSuite } from '../helpers/moat';
import { appsRootfs } from '../apps/harness';
import { startService, type Service } from '../../examples/python-service';

let root = '';
containerSuite((r) => (root = r));

interface Answer {
  exitCode: number;
  signal: string | null;
  timedOut: boolean;
  truncated: boolean;
  oomKilled: boolean;
  stdout: string;
  stderr: string;
  usage: { cpuMs: number; maxRssBytes: number; wallMs: number };
}

describe('example: python-service', () => {
  let svc: Service;
  before(async () => {
    svc = await startService({ rootfs: appsRootfs(), isolation: 'sentry', port: 0, pool: 2, memory: '256m', timeout: 10_000, root });
  });
  after(async () => {
    await svc?.close();
  });

  async function post(source: string): Promise<Answer> {
    const res = await fetch(`${svc.url}/run`, { method: 'POST', body: source });
    const body = (await res.json()) as Answer & { error?: string };
    assert.equal(res.status, 200, JSON.stringify(body));
    return body;
  }

  test('runs posted Python and answers its output and status', async () => {
    const r = await post('import sys, os\nprint(sum(range(10)), os.getuid())\nprint("e", file=sys.stderr)\nsys.exit(4)\n');
    assert.equal(r.stdout, '45 65534\n');
    assert.equal(r.stderr, 'e\n');
    assert.equal(r.exitCode, 4);
    assert.ok(r.usage.wallMs > 0);
  });

  test('limits: a loop is timed out, a memory hog killed, a flood cut; no network', async () => {
    const loop = await post('while True: pass\n');
    assert.equal(loop.timedOut, true);
    const hog = await post('x = []\nwhile True: x.append(bytearray(16 << 20))\n');
    assert.equal(hog.signal, 'SIGKILL', JSON.stringify(hog));
    const flood = await post('while True: print("x" * 1000)\n');
    assert.equal(flood.truncated, true);
    assert.equal(flood.stdout.length, 1024 * 1024);
    const net = await post('import socket\ntry:\n  socket.create_connection(("1.1.1.1", 80), timeout=2)\n  print("connected")\nexcept OSError as e:\n  print("refused")\n');
    assert.equal(net.stdout, 'refused\n');
  });

  test('concurrent requests each get a fresh sandbox', async () => {
    const rs = await Promise.all([1, 2, 3, 4].map((i) => post(`import os\nprint(${i}, os.path.exists("/tmp/mark"))\nopen("/tmp/mark", "w").close()\n`)));
    assert.deepEqual(rs.map((r) => r.stdout), ['1 False\n', '2 False\n', '3 False\n', '4 False\n']);
  });
});
