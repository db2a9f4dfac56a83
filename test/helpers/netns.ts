// Network namespaces of a test's own (the vm networking tests): held by a process, so they go
// with it (no /run/netns mount to leave behind).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { waitFor } from './moat';

/** A network namespace held by a process of the test's (gone with it: no /run/netns mount). */
export async function netnsHolder(): Promise<{ pid: number; path: string; kill(): Promise<void> }> {
  const holder = spawn('unshare', ['--net', 'sleep', '300'], { stdio: 'ignore' });
  const nsPath = `/proc/${holder.pid}/ns/net`;
  await waitFor('the namespace holder', () => {
    try {
      return fs.readlinkSync(nsPath) !== fs.readlinkSync('/proc/self/ns/net');
    } catch {
      return false;
    }
  });
  return {
    pid: holder.pid!,
    path: nsPath,
    kill: async () => {
      const gone = new Promise((r) => holder.once('exit', r));
      holder.kill('SIGKILL');
      await gone;
    },
  };
}

/** Runs a command in the namespace; asserts it succeeded; its stdout. */
export function inNs(ns: string, args: string[]): string {
  const r = spawnSync('nsenter', [`--net=${ns}`, '--', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
