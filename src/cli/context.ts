// What every command receives: the global flags and the runtime built from them.

import { Runtime } from '../runtime/lifecycle';

export interface GlobalOptions {
  root: string;
  log?: string;
  logFormat: 'text' | 'json';
  debug: boolean;
  systemdCgroup: boolean;
  isolation?: string;
  /** --vm-accel: auto | kvm | tcg (vm platform). */
  vmAccel?: string;
  /** --strace (sentry platform). */
  strace?: boolean;
}

export interface CommandContext {
  global: GlobalOptions;
  argv: string[];
  runtime(): Runtime;
}

/** A command returns its exit code (or resolves to it). */
export type Command = (ctx: CommandContext) => number | Promise<number>;
