// The command line containerd 1.6 gives a shim v2: `-namespace NS -address SOCK -publish-binary
// BIN -id ID [-bundle DIR] [-debug] start|delete`, plus moat's own `serve` (the daemon `start`
// forks) with `-socket PATH`.

import { parseArgs, str, bool } from '../cli/args';
import { MoatError } from '../util/errors';

export interface ShimFlags {
  namespace: string;
  /** containerd's gRPC socket (where `containerd publish` sends events). */
  address: string;
  publishBinary: string;
  id: string;
  bundle: string;
  debug: boolean;
  /** serve: the socket to listen on. */
  socket: string;
  action: string;
}

export function parseShimFlags(argv: readonly string[]): ShimFlags {
  const p = parseArgs(argv, [
    { name: 'namespace', type: 'string' },
    { name: 'address', type: 'string' },
    { name: 'publish-binary', type: 'string' },
    { name: 'id', type: 'string' },
    { name: 'bundle', type: 'string' },
    { name: 'debug', type: 'bool' },
    { name: 'socket', type: 'string' },
    { name: 'v', type: 'bool' },
  ]);
  if (bool(p, 'v')) return { namespace: '', address: '', publishBinary: '', id: '', bundle: '', debug: false, socket: '', action: 'version' };
  const action = p.positionals[0];
  if (action === undefined || p.positionals.length > 1) {
    throw new MoatError('EUSAGE', 'containerd-shim-moat-v2: expected one action (start, delete) after the flags');
  }
  const namespace = str(p, 'namespace') ?? process.env.NAMESPACE ?? '';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,75}$/.test(namespace)) throw new MoatError('EUSAGE', `-namespace: invalid containerd namespace ${JSON.stringify(namespace)}`);
  return {
    namespace,
    address: str(p, 'address') ?? process.env.GRPC_ADDRESS ?? '',
    publishBinary: str(p, 'publish-binary') ?? '',
    id: str(p, 'id') ?? '',
    bundle: str(p, 'bundle') ?? process.cwd(),
    debug: bool(p, 'debug'),
    socket: str(p, 'socket') ?? '',
    action,
  };
}
