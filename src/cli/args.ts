// Command-line parsing compatible with what runc's callers send: `--flag value`, `--flag=value`,
// single-dash long flags (`-bundle`), short aliases (`-b`), and `--` ending the flags.

import { MoatError } from '../util/errors';

export interface FlagSpec {
  name: string;
  alias?: string;
  type: 'bool' | 'string';
  /** String flags that may be repeated collect every value. */
  multiple?: boolean;
}

export interface Parsed {
  flags: Map<string, string | boolean | string[]>;
  positionals: string[];
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], opts: { stopAtPositional?: boolean } = {}): Parsed {
  const byName = new Map<string, FlagSpec>();
  for (const s of specs) {
    byName.set(s.name, s);
    if (s.alias) byName.set(s.alias, s);
  }
  const flags = new Map<string, string | boolean | string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      if (opts.stopAtPositional) {
        positionals.push(...argv.slice(i + 1));
        break;
      }
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const spec = byName.get(name);
    if (!spec) throw new MoatError('EUSAGE', `unknown flag ${arg.split('=')[0]}`);
    let value: string | boolean;
    if (spec.type === 'bool') {
      if (eq >= 0) {
        const v = body.slice(eq + 1);
        if (v !== 'true' && v !== 'false') throw new MoatError('EUSAGE', `flag --${spec.name} takes true or false, got ${JSON.stringify(v)}`);
        value = v === 'true';
      } else {
        value = true;
      }
    } else if (eq >= 0) {
      value = body.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined) throw new MoatError('EUSAGE', `flag --${spec.name} needs a value`);
      value = next;
      i++;
    }
    if (spec.multiple && typeof value === 'string') {
      const prev = flags.get(spec.name);
      flags.set(spec.name, [...(Array.isArray(prev) ? prev : []), value]);
    } else {
      flags.set(spec.name, value);
    }
  }
  return { flags, positionals };
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function bool(p: Parsed, name: string): boolean {
  return p.flags.get(name) === true;
}

export function list(p: Parsed, name: string): string[] {
  const v = p.flags.get(name);
  return Array.isArray(v) ? v : [];
}

export function nonNegativeInt(p: Parsed, name: string, dflt: number): number {
  const v = str(p, name);
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v) || Number(v) > 1_000_000) throw new MoatError('EUSAGE', `flag --${name} takes a non-negative integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

export function onePositional(p: Parsed, what: string, command: string): string {
  if (p.positionals.length !== 1) {
    throw new MoatError('EUSAGE', `${command}: expected exactly one ${what}, got ${p.positionals.length === 0 ? 'none' : p.positionals.join(' ')}`);
  }
  return p.positionals[0]!;
}

/**
 * `--log FILE` and `--log-format F` read leniently from global flags that failed to parse, so the
 * error still reaches the log file: containerd's shim reports a runtime failure from that file
 * ("OCI runtime create failed: <msg>"), and without it only says it could not read it.
 */
export function lenientLogFlags(argv: readonly string[]): { log?: string; logFormat?: string } {
  const out: { log?: string; logFormat?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--' || !arg.startsWith('-')) break;
    const m = /^--?(log|log-format)(?:=(.*))?$/.exec(arg);
    if (!m) {
      if (/^--?(root|isolation|vm-accel|criu|rootless)$/.test(arg)) i++; // their value
      continue;
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined) break;
    if (m[1] === 'log') out.log = value;
    else out.logFormat = value;
  }
  return out;
}
