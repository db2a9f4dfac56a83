// build/moat.js, what bin/moat runs: the CLI bundle (build/moat-cli.js) with its code cache
// (build/moat-cli.cache) when it matches (load.ts, docs/cli-speed.md).

import { CLI } from './code-cache';
import { load } from './load';

load(CLI, __dirname);
