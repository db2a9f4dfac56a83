// Logging as runc's callers expect: errors on stderr, and with --log FILE one record per line,
// text or JSON ({"level":"error","msg":"…","time":"…"}) — containerd reads that file on failure.

import * as fs from 'node:fs';
import { caller } from './caller';

export interface LogConfig {
  file?: string;
  format: 'text' | 'json';
  debug: boolean;
}

const processConfig: LogConfig = { format: 'text', debug: false };

/** This process's config, or the config of the command a service runs (src/util/caller.ts). */
function cfg(): LogConfig {
  return caller()?.log ?? processConfig;
}

export function configureLog(c: LogConfig): void {
  Object.assign(cfg(), c);
}

/** Text for the command's stderr (the caller's, in a service). */
export function writeStderr(text: string): void {
  const c = caller();
  if (c) c.write(2, text);
  else process.stderr.write(text);
}

/** Where --log records go (the sentry is handed this, to write its own records there). */
export function logTarget(): { file: string; format: 'text' | 'json' } | undefined {
  const config = cfg();
  return config.file ? { file: config.file, format: config.format } : undefined;
}

/** An fd of the --log file, opened once by a process that will not open paths later (the confined sentry). */
let heldFd: number | undefined;

/** Open the --log file now and write through that fd from then on. */
export function holdLogFile(): void {
  const config = cfg();
  if (!config.file || heldFd !== undefined) return;
  try {
    heldFd = fs.openSync(config.file, 'a', 0o600);
  } catch {
    /* written by path, as before: it fails later just as it would have */
  }
}

/** A record in the --log file only; fields are extra keys (JSON) or key=value pairs (text). */
export function logRecord(level: 'error' | 'warning' | 'info' | 'debug', msg: string, fields: Record<string, string | number> = {}): void {
  record(level, msg, fields);
}

function record(level: 'error' | 'warning' | 'info' | 'debug', msg: string, fields: Record<string, string | number> = {}): void {
  const config = cfg();
  if (!config.file) return;
  const time = new Date().toISOString();
  const extra = Object.entries(fields).map(([k, v]) => ` ${k}=${JSON.stringify(v)}`).join('');
  const line = config.format === 'json' ? JSON.stringify({ level, msg, time, ...fields }) : `time="${time}" level=${level} msg=${JSON.stringify(msg)}${extra}`;
  try {
    fs.appendFileSync(heldFd ?? config.file, line + '\n', { mode: 0o600 });
  } catch {
    // A log file we cannot write must not hide the real error, which still goes to stderr.
  }
}

export function logError(msg: string): void {
  record('error', msg);
  writeStderr(`moat: ${msg}\n`);
}

export function logWarning(msg: string): void {
  record('warning', msg);
  writeStderr(`moat: warning: ${msg}\n`);
}

export function debugLog(msg: () => string): void {
  if (!cfg().debug) return;
  const m = msg();
  record('debug', m);
  writeStderr(`moat: debug: ${m}\n`);
}
