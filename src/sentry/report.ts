// What the sentry reports to the operator: unimplemented syscalls (ENOSYS to the application) and
// its own bugs (a handler threw). Each is written, the first time it is seen,
//  - as a JSON line to the events file in the container's state directory, which `moat events`
//    shows while the container runs ({"type":"sentry-unimplemented"|"sentry-internal-error",...});
//  - as a record in moat's --log file (text or JSON, as moat's own records);
// and when the container ends, one line on stderr sums up what was seen, with counts.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { configureLog, holdLogFile, logRecord } from '../util/log';

export const EVENT_UNIMPLEMENTED = 'sentry-unimplemented';
export const EVENT_INTERNAL_ERROR = 'sentry-internal-error';

export interface SentryEvent {
  type: typeof EVENT_UNIMPLEMENTED | typeof EVENT_INTERNAL_ERROR;
  time: string;
  data: { syscall: string; nr?: number; message?: string };
}

export function sentryEventsPath(stateDir: string): string {
  return path.join(stateDir, 'sentry-events.jsonl');
}

/** The events file's records (lines that are not one are skipped: the file is the sentry's, but check). */
export function readSentryEvents(file: string): SentryEvent[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: SentryEvent[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      const e = JSON.parse(line) as SentryEvent;
      if ((e.type === EVENT_UNIMPLEMENTED || e.type === EVENT_INTERNAL_ERROR) && typeof e.data?.syscall === 'string') out.push(e);
    } catch {
      /* a torn last line */
    }
  }
  return out;
}

export class SentryReporter {
  private readonly unimplemented = new Map<string, number>();
  private readonly errors = new Map<string, number>();

  constructor(
    private readonly eventsFile: string | undefined,
    moatLog: { file: string; format: 'text' | 'json' } | undefined,
    private readonly strace: boolean,
  ) {
    if (moatLog) configureLog({ file: moatLog.file, format: moatLog.format, debug: false });
  }

  /** Every ENOSYS of an unimplemented number (counted; reported the first time). */
  onUnimplemented(name: string, nr: number): void {
    const n = (this.unimplemented.get(name) ?? 0) + 1;
    this.unimplemented.set(name, n);
    if (n > 1) return;
    const msg = `sentry: unimplemented syscall ${name} (${nr}): ENOSYS`;
    if (this.strace) process.stderr.write(`moat ${msg}\n`);
    this.event({ type: EVENT_UNIMPLEMENTED, time: new Date().toISOString(), data: { syscall: name, nr } });
    logRecord('warning', msg, { type: EVENT_UNIMPLEMENTED, syscall: name, nr });
  }

  /** A handler threw (the call failed with EFAULT): reported at once, on stderr too. */
  onInternalError(syscall: string, message: string, detail: string): void {
    const key = `${syscall}: ${message}`;
    const n = (this.errors.get(key) ?? 0) + 1;
    this.errors.set(key, n);
    if (n > 1) return;
    process.stderr.write(`moat sentry: ${detail}\n`);
    this.event({ type: EVENT_INTERNAL_ERROR, time: new Date().toISOString(), data: { syscall, message } });
    logRecord('error', `sentry: ${detail}`, { type: EVENT_INTERNAL_ERROR, syscall });
  }

  /** The one-line summary at the container's end, or undefined if nothing was seen. */
  summary(): string | undefined {
    const parts: string[] = [];
    if (this.unimplemented.size > 0) {
      parts.push(`unimplemented syscalls (ENOSYS): ${[...this.unimplemented].map(([k, n]) => `${k} ×${n}`).join(', ')}`);
    }
    if (this.errors.size > 0) {
      parts.push(`sentry bugs: ${[...this.errors].map(([k, n]) => `${k} ×${n}`).join('; ')}`);
    }
    return parts.length > 0 ? `moat sentry: ${parts.join('; ')}` : undefined;
  }

  /** At the end: the summary on stderr and in --log. */
  finish(): void {
    const s = this.summary();
    if (s === undefined) return;
    process.stderr.write(`${s}\n`);
    logRecord('warning', s.slice('moat '.length), { type: 'sentry-summary' });
  }

  private eventsFd: number | undefined;

  /** Open the events file now (the sentry, once confined, opens no path). */
  holdFiles(): void {
    holdLogFile();
    if (!this.eventsFile || this.eventsFd !== undefined) return;
    try {
      this.eventsFd = fs.openSync(this.eventsFile, 'a', 0o600);
    } catch {
      /* no state directory: nothing to tell */
    }
  }

  private event(e: SentryEvent): void {
    if (!this.eventsFile) return;
    try {
      fs.appendFileSync(this.eventsFd ?? this.eventsFile, `${JSON.stringify(e)}\n`, { mode: 0o600 });
    } catch {
      /* the state directory went away (delete --force): nothing to tell */
    }
  }
}
