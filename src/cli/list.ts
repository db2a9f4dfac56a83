import { writeStdout } from '../util/stdout';
import { MoatError } from '../util/errors';
import { bool, parseArgs, str } from './args';
import type { CommandContext } from './context';

export const usage = 'list [--format table|json] [--quiet]   list containers';

export function listCommand(ctx: CommandContext): number {
  const p = parseArgs(ctx.argv, [
    { name: 'format', alias: 'f', type: 'string' },
    { name: 'quiet', alias: 'q', type: 'bool' },
  ]);
  const format = str(p, 'format') ?? 'table';
  if (format !== 'table' && format !== 'json') throw new MoatError('EUSAGE', `list: unknown format ${JSON.stringify(format)} (table or json)`);
  const states = ctx.runtime().list();
  if (bool(p, 'quiet')) {
    for (const s of states) writeStdout(`${s.id}\n`);
  } else if (format === 'json') {
    writeStdout(JSON.stringify(states) + '\n');
  } else {
    const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER']];
    for (const s of states) rows.push([s.id, String(s.pid), s.status, s.bundle, s.created, s.owner]);
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) writeStdout(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('') + '\n');
  }
  return 0;
}
