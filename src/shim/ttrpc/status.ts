// Errors as ttrpc carries them: a google.rpc.Status with a gRPC code, which containerd's errdefs
// turns back into ErrNotFound, ErrAlreadyExists, … (so `already finished` or `not found` are
// recognised by containerd and CRI as they are from the runc shim).

export const Code = {
  OK: 0,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  FailedPrecondition: 9,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
} as const;

export class RpcError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/** moat's error codes (MoatError.code) mapped to the gRPC code containerd understands. */
export function codeOf(err: unknown): number {
  if (err instanceof RpcError) return err.code;
  const code = (err as { code?: unknown }).code;
  switch (code) {
    case 'ENOTFOUND':
      return Code.NotFound;
    case 'EEXIST':
      return Code.AlreadyExists;
    case 'ESTATE':
      return Code.FailedPrecondition;
    case 'EUSAGE':
    case 'ECONFIG':
      return Code.InvalidArgument;
    default:
      return Code.Unknown;
  }
}
