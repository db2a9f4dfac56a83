// MOAT_SENTRY_CPU_PROF=<file> in moat's environment: the sentry profiles itself with V8's sampling
// profiler (the inspector's Profiler domain, in-process) from before the application's first
// instruction to its end, and writes the profile (a .cpuprofile JSON, as `node --cpu-prof` makes;
// open it in Chrome's DevTools or speedscope) to the file, which it opens before it confines
// itself. For measuring only: the profiler's sampling thread makes calls the seccomp allow-list
// may lack, so run it with MOAT_SENTRY_SECCOMP=measure. Next to it, `<file>.mm.json`: the bytes the
// memory manager copied at mmap, exec and fork (mm/stats.ts).

import * as fs from 'node:fs';
import { mmStats } from './mm/stats';

export interface CpuProfile {
  stop(): void;
}

/** Open the file and start the profiler (before confinement); undefined when the knob is unset. */
export function startCpuProfile(file: string | undefined): CpuProfile | undefined {
  if (!file) return undefined;
  // Required here: node:inspector (and the worker_threads it loads) cost every sentry ~4 ms at start.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Session } = require('node:inspector') as typeof import('node:inspector');
  const fd = fs.openSync(file, 'w', 0o600);
  const statsFd = fs.openSync(`${file}.mm.json`, 'w', 0o600);
  const s = new Session();
  s.connect();
  s.post('Profiler.enable');
  s.post('Profiler.setSamplingInterval', { interval: 200 });
  s.post('Profiler.start');
  return {
    stop(): void {
      // The in-process session answers synchronously: the callback runs before post returns.
      s.post('Profiler.stop', (err, r) => {
        if (!err) fs.writeSync(fd, JSON.stringify(r.profile));
        fs.closeSync(fd);
      });
      fs.writeSync(statsFd, JSON.stringify(mmStats, null, 1));
      fs.closeSync(statsFd);
      s.disconnect();
    },
  };
}
