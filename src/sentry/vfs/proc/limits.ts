// /proc/<pid>/limits, as proc_pid_limits prints it.

import type { ThreadGroup } from '../../kernel/task';
import { isUnlimited, rlimit } from './process';

const NAMES: Array<[string, string]> = [
  ['Max cpu time', 'seconds'],
  ['Max file size', 'bytes'],
  ['Max data size', 'bytes'],
  ['Max stack size', 'bytes'],
  ['Max core file size', 'bytes'],
  ['Max resident set', 'bytes'],
  ['Max processes', 'processes'],
  ['Max open files', 'files'],
  ['Max locked memory', 'bytes'],
  ['Max address space', 'bytes'],
  ['Max file locks', 'locks'],
  ['Max pending signals', 'signals'],
  ['Max msgqueue size', 'bytes'],
  ['Max nice priority', ''],
  ['Max realtime priority', ''],
  ['Max realtime timeout', 'us'],
];

export function limitsText(tg: ThreadGroup): string {
  const col = (s: string, w: number) => s.padEnd(w);
  let out = `${col('Limit', 25)} ${col('Soft Limit', 20)} ${col('Hard Limit', 20)} ${col('Units', 10)}\n`;
  NAMES.forEach(([name, unit], r) => {
    const l = rlimit(tg, r);
    const v = (n: number) => (isUnlimited(n) ? 'unlimited' : String(Math.floor(n)));
    out += `${col(name, 25)} ${col(v(l.cur), 20)} ${col(v(l.max), 20)} `;
    out += unit ? `${col(unit, 10)}\n` : '\n';
  });
  return out;
}
