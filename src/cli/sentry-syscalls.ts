// `moat sentry-syscalls`: the syscalls the sentry implements (everything else returns ENOSYS).

import { implementedSyscalls, registerAll } from '../sentry/syscalls/linux';
import type { CommandContext } from './context';

export const usage = 'sentry-syscalls   list the syscalls the sentry platform implements';

export function sentrySyscallsCommand(_ctx: CommandContext): number {
  registerAll();
  const names = implementedSyscalls();
  process.stdout.write(`${names.join('\n')}\n# ${names.length} syscalls implemented by the sentry; any other returns ENOSYS\n`);
  return 0;
}
