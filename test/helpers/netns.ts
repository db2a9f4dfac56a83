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

/**
 * A veth pair between two namespaces of the test's: `eth0` in a (`<net>.2/24`, default route via
 * `.1`, MTU 1400) and `peer0` in b (`<net>.1/24`, the peer a container reaches). Returns eth0's MAC.
 * (ip, not /sys: sysfs shows the network namespace of whoever mounted it.)
 */
export function vethPair(a: { path: string }, b: { path: string; pid: number }, net: string): string {
  inNs(a.path, ['ip', 'link', 'add', 'eth0', 'mtu', '1400', 'type', 'veth', 'peer', 'name', 'peer0', 'netns', String(b.pid)]);
  inNs(a.path, ['ip', 'addr', 'add', `${net}.2/24`, 'dev', 'eth0']);
  inNs(a.path, ['ip', 'link', 'set', 'eth0', 'up']);
  inNs(a.path, ['ip', 'route', 'add', 'default', 'via', `${net}.1`]);
  inNs(b.path, ['ip', 'link', 'set', 'peer0', 'mtu', '1400']);
  inNs(b.path, ['ip', 'addr', 'add', `${net}.1/24`, 'dev', 'peer0']);
  inNs(b.path, ['ip', 'link', 'set', 'peer0', 'up']);
  const mac = /link\/ether ([0-9a-f:]{17})/.exec(inNs(a.path, ['ip', '-o', 'link', 'show', 'eth0']))?.[1];
  assert.ok(mac, 'the veth has a MAC');
  return mac;
}
