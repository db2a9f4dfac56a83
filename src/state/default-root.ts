// Where state lives when no --root (CLI) or `root` (SDK) is given.

import { callerEnv } from '../util/caller';

/** /run/moat for root; a rootless caller keeps its state in its own runtime dir, as runc does. */
export function defaultRoot(): string {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return '/run/moat';
  const xdg = callerEnv('XDG_RUNTIME_DIR');
  return xdg && xdg.startsWith('/') ? `${xdg}/moat` : `/tmp/moat-${uid}`;
}
