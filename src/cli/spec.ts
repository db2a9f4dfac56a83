import * as fs from 'node:fs';
import * as path from 'node:path';
import { specTemplate } from '../spec/default';
import { MoatError } from '../util/errors';
import { bool, parseArgs, str } from './args';
import type { CommandContext } from './context';

export const usage = 'spec [--bundle DIR] [--rootless]   write a template config.json';

export function specCommand(ctx: CommandContext): number {
  const p = parseArgs(ctx.argv, [
    { name: 'bundle', alias: 'b', type: 'string' },
    { name: 'rootless', type: 'bool' },
  ]);
  if (p.positionals.length > 0) throw new MoatError('EUSAGE', `spec: unexpected argument ${p.positionals[0]}`);
  const dir = path.resolve(str(p, 'bundle') ?? '.');
  const file = path.join(dir, 'config.json');
  const spec = specTemplate({ rootless: bool(p, 'rootless'), hostUid: process.getuid?.() ?? 0, hostGid: process.getgid?.() ?? 0 });
  try {
    fs.writeFileSync(file, JSON.stringify(spec, null, '\t') + '\n', { flag: 'wx', mode: 0o644 });
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST') throw new MoatError('EEXIST', `File ${file} exists. Remove it first`);
    throw err;
  }
  return 0;
}
