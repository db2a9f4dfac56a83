// `moat update`: new resource limits for a live container, from a LinuxResources JSON file (or
// stdin) and/or runc's individual flags (which win over the file).

import * as fs from 'node:fs';
import { ConfigError, MoatError } from '../util/errors';
import { parseByteSize } from '../util/ids';
import { onePositional, parseArgs, str, type Parsed } from './args';
import type { CommandContext } from './context';

export const usage = 'update [--resources FILE|-] [--memory N] [--pids-limit N] [--cpu-quota N] … ID   change resource limits';

type Json = Record<string, unknown>;

/** Flag → [section, key, kind]: where runc's flag lands in LinuxResources. */
const FLAGS: Record<string, [section: string, key: string, kind: 'bytes' | 'int' | 'string']> = {
  memory: ['memory', 'limit', 'bytes'],
  'memory-reservation': ['memory', 'reservation', 'bytes'],
  'memory-swap': ['memory', 'swap', 'bytes'],
  'cpu-period': ['cpu', 'period', 'int'],
  'cpu-quota': ['cpu', 'quota', 'int'],
  'cpu-share': ['cpu', 'shares', 'int'],
  'cpu-rt-period': ['cpu', 'realtimePeriod', 'int'],
  'cpu-rt-runtime': ['cpu', 'realtimeRuntime', 'int'],
  'cpuset-cpus': ['cpu', 'cpus', 'string'],
  'cpuset-mems': ['cpu', 'mems', 'string'],
  'pids-limit': ['pids', 'limit', 'int'],
  'blkio-weight': ['blockIO', 'weight', 'int'],
};

/** `512m`, `1g`, `1048576`, `-1` (docker's RAMInBytes). */
export function parseBytes(flag: string, text: string): number {
  if (text === '-1') return -1;
  const n = parseByteSize(text);
  if (n === undefined) throw new MoatError('EUSAGE', `update: --${flag}: ${JSON.stringify(text)} is not a size like 512m or 1g`);
  return n;
}

function parseInt64(flag: string, text: string): number {
  if (!/^-?\d+$/.test(text)) throw new MoatError('EUSAGE', `update: --${flag}: ${JSON.stringify(text)} is not an integer`);
  return Number(text);
}

function readResourcesFile(file: string): Json {
  const text = file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(file, 'utf8');
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('expected a JSON object');
    return v as Json;
  } catch (err) {
    throw new MoatError('EUSAGE', `update: --resources ${file}: ${(err as Error).message}`);
  }
}

/** The LinuxResources object the command line asks for. */
export function resourcesFromArgs(p: Parsed, file: Json | undefined): Json {
  const out: Json = { ...(file ?? {}) };
  for (const [flag, [section, key, kind]] of Object.entries(FLAGS)) {
    const text = str(p, flag);
    if (text === undefined) continue;
    const value = kind === 'bytes' ? parseBytes(flag, text) : kind === 'int' ? parseInt64(flag, text) : text;
    out[section] = { ...((out[section] as Json | undefined) ?? {}), [key]: value };
  }
  return out;
}

export function updateCommand(ctx: CommandContext): number {
  const flagSpecs = [{ name: 'resources', alias: 'r', type: 'string' as const }, ...Object.keys(FLAGS).map((name) => ({ name, type: 'string' as const }))];
  const p = parseArgs(ctx.argv, [...flagSpecs, { name: 'kernel-memory', type: 'string' }, { name: 'kernel-memory-tcp', type: 'string' }]);
  const id = onePositional(p, 'container id', 'update');
  const file = str(p, 'resources');
  const resources = resourcesFromArgs(p, file !== undefined ? readResourcesFile(file) : undefined);
  const rt = ctx.runtime();
  const { handle, rec } = rt.open(id);
  try {
    rt.update(handle, rec, resources, 'resources');
  } catch (err) {
    if (err instanceof ConfigError) throw new MoatError('EUSAGE', `update: ${err.message.replace(/^config\.json: /, '')}`);
    throw err;
  } finally {
    handle.release();
  }
  return 0;
}
