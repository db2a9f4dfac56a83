// `moat events [--stats] [--interval D] ID`: runc's stats events, one JSON object per line:
// {"type":"stats","id":…,"data":{cpu,memory,pids,blkio,hugetlb}}. --stats prints once; otherwise
// every interval (default 5s) until the container stops.
//
// Under the sentry the stats are the sandbox's cgroups' (the sentry, its stubs and the gofer
// together), followed by what the sentry reported:
// {"type":"sentry-unimplemented","id":…,"data":{"syscall":"…","nr":N}} for a syscall the
// application called that the sentry does not implement, and {"type":"sentry-internal-error",…}
// for a bug of the sentry's — events runc's `events` does not have. --stats prints the stats and
// those seen so far and exits; otherwise the stats and new reports every interval.

import { loadPlatform } from '../platform';
import { statsJson } from '../policy/cgroups/stats';
import { statusOf } from '../runtime/status';
import { parseDuration as parseDurationFlag } from '../util/duration';
import { readSentryEvents, sentryEventsPath } from '../sentry/report';
import { MoatError } from '../util/errors';
import { bool, onePositional, parseArgs, str } from './args';
import type { CommandContext } from './context';

export const usage = 'events [--stats] [--interval 5s] ID   print resource usage as JSON (once with --stats)';

/** A Go duration (`5s`, `250ms`, `1m30s`) in milliseconds. */
export function parseDuration(text: string): number {
  return parseDurationFlag(text, 'events: --interval');
}

export async function eventsCommand(ctx: CommandContext): Promise<number> {
  const p = parseArgs(ctx.argv, [
    { name: 'stats', type: 'bool' },
    { name: 'interval', type: 'string' },
  ]);
  const id = onePositional(p, 'container id', 'events');
  const interval = parseDuration(str(p, 'interval') ?? '5s');
  const rt = ctx.runtime();
  let shown = 0;
  for (let first = true; ; first = false) {
    const { handle, rec } = rt.open(id);
    handle.release();
    const status = statusOf(rec);
    if (status === 'stopped' || status === 'creating') {
      if (first) throw new MoatError('ESTATE', `container ${JSON.stringify(id)} is not running (${status})`);
      return 0;
    }
    if (rec.platform === 'sentry' && rec.sentry) {
      if (rec.cgroups) process.stdout.write(statsJson({ type: 'stats', id, data: await loadPlatform(rec.platform).stats(rec) }) + '\n');
      const all = readSentryEvents(sentryEventsPath(rec.sentry.stateDir));
      for (const e of all.slice(shown)) process.stdout.write(`${JSON.stringify({ type: e.type, id, time: e.time, data: e.data })}\n`);
      shown = all.length;
      if (bool(p, 'stats')) return 0;
      await new Promise((resolve) => setTimeout(resolve, interval));
      continue;
    }
    const data = await loadPlatform(rec.platform).stats(rec);
    process.stdout.write(statsJson({ type: 'stats', id, data }) + '\n');
    if (bool(p, 'stats')) return 0;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
