// Durations on the command line, as Go writes them (runc's flags): `5s`, `250ms`, `1m30s`.

import { MoatError } from './errors';

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** The longest duration a flag takes: a day (Node's timers stop at ~24.8 days). */
export const MAX_DURATION_MS = 24 * 3_600_000;

/**
 * A Go duration in milliseconds; `flag` names the flag in errors. With `bareSeconds`, a plain
 * number is seconds (`--grace 10`, as `timeout` and `docker stop -t` take it); with `allowZero`,
 * 0 is accepted.
 */
export function parseDuration(text: string, flag: string, opts: { allowZero?: boolean; bareSeconds?: boolean } = {}): number {
  let ms: number;
  if (opts.bareSeconds && /^\d+(?:\.\d+)?$/.test(text)) {
    ms = Number(text) * 1000;
  } else {
    const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
    if (parts.length === 0 || parts.map((m) => m[0]).join('') !== text) {
      throw new MoatError('EUSAGE', `${flag}: ${JSON.stringify(text)} is not a duration like 5s or 500ms`);
    }
    ms = parts.reduce((sum, m) => sum + Number(m[1]) * UNIT_MS[m[2]!]!, 0);
  }
  if (ms < 0 || (ms === 0 && !opts.allowZero)) throw new MoatError('EUSAGE', `${flag} must be positive`);
  if (ms > MAX_DURATION_MS) throw new MoatError('EUSAGE', `${flag}: ${JSON.stringify(text)} is longer than 24h`);
  return ms;
}
