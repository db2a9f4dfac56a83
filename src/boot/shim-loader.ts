// build/shim.js, what bin/containerd-shim-moat-v2 runs (and the shim's server, and the sentry's and
// vm's exec relays started as `build/shim.js …-exec-relay`): the shim's bundle (build/moat-shim.js)
// with its code cache (build/moat-shim.cache) when it matches (load.ts, docs/shim.md).

import { SHIM } from './code-cache';
import { load } from './load';

load(SHIM, __dirname);
