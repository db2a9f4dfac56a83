// The platforms the sentry can run on, by name: each implementation registers a constructor here
// (platform/ptrace/index.ts) and main.ts makes the one the configuration names. A second platform
// (systrap) plugs in with one register() call and no change to the kernel.

import type { Platform } from './types';

export type PlatformFactory = () => Platform;

const factories = new Map<string, PlatformFactory>();

export function registerPlatform(name: string, make: PlatformFactory): void {
  if (factories.has(name)) throw new Error(`sentry: platform ${name} registered twice`);
  factories.set(name, make);
}

/** The platform named name; an unknown name is an error that lists the known ones. */
export function newPlatform(name: string): Platform {
  const make = factories.get(name);
  if (!make) throw new Error(`sentry: no platform named ${JSON.stringify(name)} (known: ${[...factories.keys()].join(', ')})`);
  return make();
}

export function platformNames(): string[] {
  return [...factories.keys()];
}
