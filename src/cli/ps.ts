// `moat ps ID [ps options]`: the container's processes, from its cgroup. json: the pids; table: the
// host's `ps` (default `-ef`) filtered to those pids, as runc does.

import { spawnSync } from 'node:child_process';
import { loadPlatform } from '../platform';
import { MoatError } from '../util/errors';
import { parseArgs, str } from './args';
import type { CommandContext } from './context';
import { writeStdout } from '../util/stdout';

export const usage = 'ps [--format table|json] ID [ps options]   list the container\'s processes';

/** Keep the header and the rows whose PID column is one of pids. */
export function filterPsOutput(text: string, pids: ReadonlySet<number>): string {
  const [header, ...rows] = text.split('\n');
  const col = (header ?? '').trim().split(/\s+/).indexOf('PID');
  if (col < 0) throw new MoatError('EUSAGE', 'ps: the ps output has no PID column');
  const kept = rows.filter((r) => pids.has(Number(r.trim().split(/\s+/)[col])));
  return [header, ...kept].join('\n') + '\n';
}

export function psCommand(ctx: CommandContext): number {
  const p = parseArgs(ctx.argv, [{ name: 'format', alias: 'f', type: 'string' }], { stopAtPositional: true });
  const [id, ...psArgs] = p.positionals;
  if (id === undefined) throw new MoatError('EUSAGE', 'ps: expected a container id');
  const format = str(p, 'format') ?? 'table';
  if (format !== 'table' && format !== 'json') throw new MoatError('EUSAGE', `ps: --format: ${JSON.stringify(format)} is not table or json`);
  const rt = ctx.runtime();
  const { handle, rec } = rt.open(id);
  handle.release();
  const pids = loadPlatform(rec.platform).pids(rec);
  if (pids === undefined) throw new MoatError('ESTATE', `container ${JSON.stringify(id)} has no cgroups: its processes cannot be listed`);
  if (format === 'json') {
    writeStdout(JSON.stringify(pids) + '\n');
    return 0;
  }
  const ps = spawnSync('ps', psArgs.length > 0 ? psArgs : ['-ef'], { encoding: 'utf8' });
  if (ps.error || ps.status !== 0) throw new MoatError('EINTERNAL', `ps: running ps failed: ${ps.error?.message ?? ps.stderr.trim()}`);
  writeStdout(filterPsOutput(ps.stdout, new Set(pids)));
  return 0;
}
