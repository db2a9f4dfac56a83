// Error classes with a stable code. Every message is one line naming what was wrong:
// the field, the path or the container id.

export type MoatErrorCode =
  | 'EUSAGE' // bad command line
  | 'ECONFIG' // config.json unreadable, malformed or invalid
  | 'EBUNDLE' // bundle or rootfs missing
  | 'ENOTFOUND' // unknown container id
  | 'EEXIST' // duplicate container id
  | 'ESTATE' // operation not valid in the container's current status
  | 'ESIGNAL' // unknown signal
  | 'ESETUP' // the executor failed while building the container
  | 'EEXEC' // the container's program cannot be executed (exit 127, like a shell)
  | 'ENATIVE' // native layer missing or failed
  | 'EVM' // the vm platform: VMM, guest or channel failed
  | 'EINTERNAL';

export class MoatError extends Error {
  readonly code: MoatErrorCode;
  constructor(code: MoatErrorCode, message: string) {
    super(message);
    this.name = 'MoatError';
    this.code = code;
  }
}

export class ConfigError extends MoatError {
  /** Dotted path of the offending field, e.g. `process.args[0]`. */
  readonly field: string;
  readonly problem: string;
  constructor(field: string, problem: string, source = 'config.json') {
    super('ECONFIG', `${source}: ${field}: ${problem}`);
    this.name = 'ConfigError';
    this.field = field;
    this.problem = problem;
  }

  /** The same error, said of another file (`moat exec --process F`, `update --resources F`). */
  from(source: string): ConfigError {
    return new ConfigError(this.field, this.problem, source);
  }
}

export function errnoCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err) {
    const c = (err as { code: unknown }).code;
    return typeof c === 'string' ? c : undefined;
  }
  return undefined;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
