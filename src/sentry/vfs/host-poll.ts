// One host poll(2) for the readiness of many host-backed files (the sandbox's host sockets). An
// epoll_wait or poll over a server's connections asks every file its readiness(); for a host socket
// that is a poll of its host fd, so a wait over n connections made n host calls (2n with EPOLLET's
// and the park's checks). Between beginHostPoll and endHostPoll those files answer from one poll of
// them all instead. Nothing moves data in between (the caller only looks), so the answers are as
// fresh as n separate polls would be; a change after the poll is signalled to the tracer's wait
// (sentry.c moat_readiness_fd) as it is after a single poll.

import type { FileDescription } from './file';

/** The most files one poll covers (net.c POLL_MANY_MAX bounds it too); the rest poll themselves. */
const MAX_BATCH = 1024;

export interface HostPoller {
  /** Register the arrays pollMany reads fds from and writes revents to. */
  pollBuffers(fds: Int32Array, out: Int32Array): void;
  /** poll(2) of fds[0..n) for POLLIN|POLLOUT|POLLPRI|POLLRDHUP, no wait: ready count or -errno. */
  pollMany(n: number): number;
}

const fds = new Int32Array(MAX_BATCH);
const out = new Int32Array(MAX_BATCH);
const taken: FileDescription[] = [];
let poller: HostPoller | undefined;
/** The snapshot files answer from (FileDescription.hostPollGen === current), 0: none. */
let current = 0;
let generation = 0;

/** The host side (net/host.ts), set when the first host socket is made: until then there is nothing to batch. */
export function setHostPoller(p: HostPoller): void {
  if (poller) return;
  p.pollBuffers(fds, out);
  poller = p;
}

/**
 * Poll the host fds of files (those with a hostPollFd) at once; until endHostPoll their
 * hostPolled() is that answer. Nested calls (an epoll watching an epoll) keep the outer snapshot.
 * Returns whether a snapshot was taken (the caller then ends it).
 */
export function beginHostPoll(files: Iterable<FileDescription>): boolean {
  if (current !== 0 || !poller) return false;
  let n = 0;
  taken.length = 0;
  for (const f of files) {
    if (n >= MAX_BATCH) break;
    if (f.refs <= 0) continue; // released: its host fd is closed (the number may be another's now)
    const h = f.hostPollFd();
    if (h < 0) continue;
    fds[n++] = h;
    taken.push(f);
  }
  // One file: its own poll costs the same.
  const ok = n >= 2 && poller.pollMany(n) >= 0;
  if (ok) {
    generation = generation >= 0x3fff_ffff ? 1 : generation + 1;
    for (let i = 0; i < n; i++) {
      taken[i].hostPollGen = generation;
      taken[i].hostPollRev = out[i];
    }
    current = generation;
  }
  taken.length = 0;
  return ok;
}

export function endHostPoll(taken: boolean): void {
  if (taken) current = 0;
}

/** f's revents from the current snapshot, or -1 (no snapshot, or f not in it): f polls itself. */
export function hostPolled(f: FileDescription): number {
  return current !== 0 && f.hostPollGen === current ? f.hostPollRev : -1;
}
