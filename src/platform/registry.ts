// The registry: a platform's implementation by name, loaded only when used (the CLI's start-up
// loads none it does not need). The interface is in types.ts, which the platforms import.

import type { Platform, PlatformName } from './types';

/** The platform, loaded synchronously (for the synchronous commands: delete, kill, pause, …). */
export function loadPlatform(name: PlatformName): Platform {
  if (name === 'vm') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { VmPlatform } = require('../vm/platform') as typeof import('../vm/platform');
    return new VmPlatform();
  }
  if (name === 'sentry') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { SentryPlatform } = require('../sentry') as typeof import('../sentry');
    return new SentryPlatform();
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { NativePlatform } = require('../native/platform') as typeof import('../native/platform');
  return new NativePlatform();
}

export async function platformFor(name: PlatformName): Promise<Platform> {
  switch (name) {
    case 'native': {
      const { NativePlatform } = await import('../native/platform');
      return new NativePlatform();
    }
    case 'vm': {
      const { VmPlatform } = await import('../vm/platform');
      return new VmPlatform();
    }
    case 'sentry': {
      const { SentryPlatform } = await import('../sentry');
      return new SentryPlatform();
    }
  }
}
