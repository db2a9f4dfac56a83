// The SDK's errors: one class per code, the codes the CLI uses (src/util/errors.ts), so a program
// can branch on `err.code` or `instanceof` and a message reads as the CLI's would.

import { MoatError, type MoatErrorCode } from '../util/errors';

/** Every error the SDK throws (or rejects with) is a SandboxError; `code` is stable. */
export class SandboxError extends MoatError {
  constructor(code: MoatErrorCode, message: string) {
    super(code, message);
    this.name = 'SandboxError';
  }
}

/** EUSAGE: a bad option (names the option), or one the chosen isolation cannot enforce; ESIGNAL: an unknown signal. */
export class UsageError extends SandboxError {
  constructor(message: string, code: 'EUSAGE' | 'ESIGNAL' = 'EUSAGE') {
    super(code, message);
    this.name = 'UsageError';
  }
}

/** ESETUP / ENATIVE / EVM / ECONFIG / EBUNDLE: the sandbox could not be made. */
export class SetupError extends SandboxError {
  constructor(code: MoatErrorCode, message: string) {
    super(code, message);
    this.name = 'SetupError';
  }
}

/** EEXEC: the program cannot be executed in the sandbox (not found, not executable). */
export class ExecError extends SandboxError {
  constructor(message: string) {
    super('EEXEC', message);
    this.name = 'ExecError';
  }
}

/** ESTATE: the sandbox is closed (by close(), its wall time, or its init dying); ENOTFOUND: its state is gone. */
export class StateError extends SandboxError {
  constructor(message: string, code: 'ESTATE' | 'ENOTFOUND' = 'ESTATE') {
    super(code, message);
    this.name = 'StateError';
  }
}

/** EINTERNAL: a bug of moat's, or what the host did not allow. */
export class InternalError extends SandboxError {
  constructor(message: string) {
    super('EINTERNAL', message);
    this.name = 'InternalError';
  }
}

/** Any error from moat's library code as the SDK's class for its code; the code itself is kept (the CLI's). */
export function toSandboxError(err: unknown): Error {
  if (err instanceof SandboxError) return err;
  if (err instanceof MoatError) {
    switch (err.code) {
      case 'EUSAGE': case 'ESIGNAL': return new UsageError(err.message, err.code);
      case 'EEXEC': return new ExecError(err.message);
      case 'ESTATE': case 'ENOTFOUND': return new StateError(err.message, err.code);
      case 'ESETUP': case 'ENATIVE': case 'EVM': case 'ECONFIG': case 'EBUNDLE': case 'EEXIST': return new SetupError(err.code, err.message);
      case 'EINTERNAL': return new InternalError(err.message);
    }
  }
  if (err instanceof Error && err.name === 'AbortError') return err;
  return new InternalError(err instanceof Error ? err.message : String(err));
}
