// moat's SDK: sandboxes as a library (docs/sdk.md).
//   import { Sandbox } from 'moat';
//   await using sb = await Sandbox.create({ isolation: 'sentry', rootfs: '/srv/rootfs' });
//   const r = await sb.run(['python3', '-c', 'print(1)'], { timeout: 5000 });

export { Sandbox, type RunOptions, type RunResult } from './sandbox';
export { SpawnedSandbox, type SpawnOptions, type SpawnResult } from './spawn';
export { ExecHandle, type ExecOptions, type ExecResult, type Usage } from './exec';
export { SandboxPool, type PoolOptions } from './pool';
export type { Isolation, Limits, MountOption, NetworkOption, SandboxOptions } from './options';
export { SandboxError, UsageError, SetupError, ExecError, StateError, InternalError } from './errors';
