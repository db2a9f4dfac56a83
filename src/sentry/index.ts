// The sentry platform's public surface: moat's user-space kernel behind the Platform interface.
// Layout (gVisor's): kernel/ (tasks, signals, futex, exec, exit), mm/ (address spaces), loader/
// (ELF), platform/ (how application code is trapped: ptrace today), syscalls/linux/ (one file per
// family + the dispatch table), vfs/ (files), gofer/ (the rootfs broker's client), main.ts (the
// sentry process), container.ts (create/kill/delete for the OCI runtime).

export { SentryPlatform, sentryConfig } from './container';
