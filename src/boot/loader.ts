// build/moat.js, what bin/moat runs: loads the CLI bundle (build/moat-cli.js) with V8's code cache
// (build/moat-cli.cache) when it matches, so a command does not compile the bundle again at each
// start (docs/cli-speed.md). The file is the bundle in Node's CommonJS module wrapper (a function
// expression): it runs as a module of its own file and directory, as Node would run it.

import { BUNDLE_FILE, bundleId, CACHE_FILE, cachePayload, type BundleFunction } from './code-cache';

// Plain requires: an `import * as` of a Node module copies all its properties (esbuild's interop).
/* eslint-disable @typescript-eslint/no-require-imports */
const fs = require('node:fs') as typeof import('node:fs');
const path = require('node:path') as typeof import('node:path');
const { Script } = require('node:vm') as typeof import('node:vm');
/* eslint-enable @typescript-eslint/no-require-imports */

function readOptional(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

function load(): void {
  const file = path.join(__dirname, BUNDLE_FILE);
  let source: string;
  try {
    // ASCII (scripts/build.mjs checks): latin1 is exact, and spares the UTF-8 decoder.
    source = fs.readFileSync(file, 'latin1');
  } catch (err) {
    process.stderr.write(`moat: cannot read ${file}: ${(err as Error).message} (run \`npm run build\`)\n`);
    process.exit(1);
  }
  const cachedData = cachePayload(readOptional(path.join(__dirname, CACHE_FILE)), bundleId(source), process.version);
  const script = new Script(source, { filename: file, ...(cachedData ? { cachedData } : {}) });
  // For MOAT_PROFILE (src/util/profile.ts) and the tests: was the cache there, and did V8 take it?
  (globalThis as Record<symbol, unknown>)[Symbol.for('moat.codeCache')] = !cachedData ? 'none' : script.cachedDataRejected ? 'rejected' : 'used';
  const mod = { exports: {} as unknown, filename: file, id: file, loaded: false };
  const run = script.runInThisContext() as BundleFunction;
  // This file's require: the bundle is in the same directory, so it resolves what the bundle's own
  // would (node: modules, and the addon by absolute path).
  run.call(mod.exports, mod.exports, require, mod, file, __dirname);
}

load();
