// What the loaders (build/moat.js for bin/moat, build/shim.js for containerd-shim-moat-v2) do: load
// their bundle (build/moat-cli.js, build/moat-shim.js) with V8's code cache (build/<name>.cache) when
// it matches, so a process does not compile the bundle again at each start (docs/cli-speed.md). The
// bundle file is the bundle in Node's CommonJS module wrapper (a function expression): it runs as a
// module of its own file and directory, as Node would run it.

import type { BootBundle, BundleFunction } from './code-cache';
import { bundleId, cacheFileFor, cachePayload } from './code-cache';

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

/**
 * Compile and run the bundle `b` beside this loader (in `dir`), with its cache when it is the
 * bundle's. Returns the bundle's exports (the sentry's loader calls its main from them).
 */
export function load(b: BootBundle, dir: string): unknown {
  const file = path.join(dir, b.bundle);
  let source: string;
  try {
    // ASCII (scripts/build.mjs checks): latin1 is exact, and spares the UTF-8 decoder.
    source = fs.readFileSync(file, 'latin1');
  } catch (err) {
    process.stderr.write(`${b.label}: cannot read ${file}: ${(err as Error).message} (run \`npm run build\`)\n`);
    process.exit(1);
  }
  const cachedData = cachePayload(readOptional(path.join(dir, cacheFileFor(b, process.argv))), bundleId(source, b.name), process.version);
  const script = new Script(source, { filename: file, ...(cachedData ? { cachedData } : {}) });
  // For MOAT_PROFILE (src/util/profile.ts) and the tests: was the cache there, and did V8 take it?
  (globalThis as Record<symbol, unknown>)[Symbol.for('moat.codeCache')] = !cachedData ? 'none' : script.cachedDataRejected ? 'rejected' : 'used';
  const mod = { exports: {} as unknown, filename: file, id: file, loaded: false };
  const run = script.runInThisContext() as BundleFunction;
  // The loader's require: the bundle is in the same directory, so it resolves what the bundle's own
  // would (node: modules, and the addon by absolute path).
  run.call(mod.exports, mod.exports, require, mod, file, dir);
  return mod.exports;
}
