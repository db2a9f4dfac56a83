// Signal names and numbers as `kill` accepts them: KILL, SIGKILL, 9, RTMIN+3, SIGRTMAX-1.

import { constants } from 'node:os';
import { MoatError } from '../util/errors';

const SIGRTMIN = 34;
const SIGRTMAX = 64;

export function parseSignal(text: string): number {
  const t = text.trim();
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n >= 1 && n <= SIGRTMAX) return n;
    throw new MoatError('ESIGNAL', `unknown signal ${JSON.stringify(text)}: numbers run from 1 to ${SIGRTMAX}`);
  }
  const name = t.toUpperCase().replace(/^SIG/, '');
  const rt = /^RT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (rt) {
    const base = rt[1] === 'MIN' ? SIGRTMIN : SIGRTMAX;
    const off = rt[3] ? Number(rt[3]) * (rt[2] === '-' ? -1 : 1) : 0;
    const n = base + off;
    if (n >= SIGRTMIN && n <= SIGRTMAX) return n;
  } else {
    const n = (constants.signals as Record<string, number>)[`SIG${name}`];
    if (n !== undefined) return n;
  }
  throw new MoatError('ESIGNAL', `unknown signal ${JSON.stringify(text)}`);
}
