// The sentry's mappings of its memory files (docs/sentry.md, Memory): one 3 GiB mapping per
// address space, which must go once the address space is gone — not stay until the sentry exits
// (N-API's finalizers wait for an event loop the kernel's loop never yields to). A shell runs 200
// execs; the sentry then holds a few dozen such mappings at most, not one per exec.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { MOAT } from '../helpers/moat';
import { sentrySuite } from './helpers';

let root: string;
sentrySuite((r) => (root = r));

test('200 execs leave the sentry a bounded number of memory-file mappings (dead address spaces are unmapped)', async () => {
  const script = 'i=0; while [ $i -lt 200 ]; do /bin/true; i=$((i+1)); done; echo looped; read x';
  const child = spawn(MOAT, ['--root', root, 'do', '--isolation=sentry', '--', '/bin/sh', '-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "looped" after 120 s: ${out}`)), 120_000);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('looped')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    // The sentry: its command line names its config under this file's state root.
    const sentry = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).find((n) => {
      try {
        const cmd = fs.readFileSync(`/proc/${n}/cmdline`, 'utf8');
        return cmd.includes('sentry.js') && cmd.includes(root);
      } catch {
        return false;
      }
    });
    assert.ok(sentry, 'no sentry process found');
    const maps = fs.readFileSync(`/proc/${sentry}/maps`, 'utf8');
    const memoryFiles = maps.split('\n').filter((l) => l.includes('moat-sentry-memory')).length;
    assert.ok(memoryFiles >= 1 && memoryFiles < 100, `${memoryFiles} memory-file mappings in the sentry after 200 execs`);
  } finally {
    child.stdin!.end('\n');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
});
