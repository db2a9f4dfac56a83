// The ptrace platform, registered under its name (platform/registry.ts).

import { registerPlatform } from '../registry';
import { PtracePlatform } from './platform';

export { PtracePlatform } from './platform';
export { PtraceAddressSpace } from './address-space';
export { PtraceContext } from './context';

registerPlatform('ptrace', () => new PtracePlatform());
