// The socket families the sentry offers (each registers itself with socket.ts's registry).

import { registerUnix } from './unix';

export function registerSocketFamilies(): void {
  registerUnix();
}
