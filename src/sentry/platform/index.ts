// How the sentry runs application code on the host: the mechanism that stops the application at
// every syscall and lets the sentry read and set its registers. Today that is ptrace
// (platform/ptrace); gVisor's systrap (seccomp RET_TRAP with an in-process stub and a
// shared-memory request/response) can replace it behind this interface without touching the
// kernel or the syscall code.

export { Registers, REG } from './registers';
export type { SentryPlatform, PlatformEvent } from './types';
export { EVENT_NONE, EVENT_SYSCALL, EVENT_FAULT, EVENT_EXIT, EVENT_TIMEOUT, EVENT_HOST_SIGNAL, EVENT_FD, EVENT_NO_TASKS, EVENT_OTHER_STOP, EVENT_WATCH } from './types';
export { PtracePlatform } from './ptrace';
