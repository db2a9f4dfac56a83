// How the sentry runs application code on the host (docs/sentry.md, "Platform"): the interface
// the kernel and the memory manager use (types.ts), the registry of implementations
// (registry.ts), and ptrace, the one there is today (ptrace/). gVisor's systrap (seccomp
// RET_TRAP with an in-process stub and a shared-memory request/response) plugs in the same way.

export { Registers, REG } from './registers';
export type { Platform, PlatformSetup, AddressSpace, Context, Stop, StopReason, FaultInfo } from './types';
export { STOP, NO_WAIT } from './types';
export { newPlatform, platformNames, registerPlatform } from './registry';
export { PtracePlatform } from './ptrace';
import './ptrace';
