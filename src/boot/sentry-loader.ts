// build/sentry.js, the sentry process (src/sentry/container.ts starts it): the sentry's bundle
// (build/moat-sentry.js) with its code cache (build/moat-sentry.cache) when it matches (load.ts,
// docs/sentry.md "Start-up"). Under a loader the bundle is not the main module, so its main is
// called from here.

import { SENTRY } from './code-cache';
import { load } from './load';

const sentry = load(SENTRY, __dirname) as { sentryMain(argv: string[]): void };
sentry.sentryMain(process.argv.slice(2));
