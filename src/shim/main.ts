// containerd-shim-moat-v2: moat's containerd shim v2 (runtime type io.containerd.moat.v2). See
// docs/shim.md. The bundle (build/moat-shim.js, run by its loader build/shim.js with its code cache)
// also serves as the sentry's exec relay, which the sentry platform starts as `<build/shim.js>
// sentry-exec-relay …`, and the vm's (`vm-exec-relay`: execs, and the containers of a vm pod).

// Each life loads only its own code (the bundle's modules are initialised when first imported):
// `start` runs once per container and must not pay for the server's protobuf and platform code.
import { mark, profileLabel } from '../util/profile';
import { parseShimFlags } from './flags';

declare const MOAT_VERSION: string;

/**
 * The code cache's training (src/boot/produce-cache.ts, at build time): what a new server runs
 * before and at its first calls — its modules' top levels, protobufjs building the messages from
 * the descriptors, an encode and decode of each message of a container's first calls and events —
 * so that their bytecode is in build/moat-shim.cache. Nothing is served, nothing touched.
 */
export async function codeCacheTraining(): Promise<void> {
  await import('./actions');
  const { decode, encode } = await import('./proto');
  const task = ['CreateTaskRequest', 'CreateTaskResponse', 'StartRequest', 'StartResponse', 'StateRequest', 'StateResponse', 'WaitRequest', 'WaitResponse', 'KillRequest', 'DeleteRequest', 'DeleteResponse', 'ConnectRequest', 'ConnectResponse', 'ShutdownRequest'];
  const events = ['TaskCreate', 'TaskStart', 'TaskExit', 'TaskDelete'];
  const names = ['ttrpc.Request', 'ttrpc.Response', 'google.protobuf.Empty', 'containerd.services.events.ttrpc.v1.ForwardRequest', 'runtimeoptions.v1.Options', ...task.map((t) => `containerd.task.v2.${t}`), ...events.map((e) => `containerd.events.${e}`)];
  for (const name of names) decode(name, encode(name, {}));
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'sentry-exec-relay') return (await import('../sentry/container')).execRelayMain();
  // As moat's CLI runs it: exit with the status at once (a pending read must not hold the relay).
  if (argv[0] === 'vm-exec-relay') process.exit(await (await import('../vm/exec')).execRelayMain());
  const f = parseShimFlags(argv);
  profileLabel(`shim ${f.action} ${process.pid}`);
  mark('flags parsed');
  switch (f.action) {
    case 'version':
      process.stdout.write(`containerd-shim-moat-v2:\n  Version: ${typeof MOAT_VERSION === 'string' ? MOAT_VERSION : 'dev'}\n`);
      return 0;
    case 'start':
      return (await import('./start')).startAction(f);
    case 'serve':
      return (await import('./actions')).serveAction(f);
    case 'delete':
      return (await import('./delete')).deleteAction(f);
    default:
      process.stderr.write(`containerd-shim-moat-v2: unknown action ${JSON.stringify(f.action)} (start, delete)\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`containerd-shim-moat-v2: ${err.message}\n`);
    process.exitCode = 1;
  },
);
