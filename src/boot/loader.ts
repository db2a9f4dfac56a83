// build/moat.js, what bin/moat runs: loads the CLI bundle (build/moat-cli.js) with V8's code cache
// (build/moat-cli.cache) when it matches, so a command does not compile the bundle again at each
// start (docs/cli-speed.md). The bundle runs as a CommonJS module of its own file and directory,
// exactly as `node build/moat-cli.js` would run it.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Script } from 'node:vm';
import { BUNDLE_FILE, bundleId, CACHE_FILE, cachePayload, wrapModule } from './code-cache';

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
  const script = new Script(wrapModule(source), { filename: file, ...(cachedData ? { cachedData } : {}) });
  // For MOAT_PROFILE (src/util/profile.ts) and the tests: was the cache there, and did V8 take it?
  (globalThis as Record<symbol, unknown>)[Symbol.for('moat.codeCache')] = !cachedData ? 'none' : script.cachedDataRejected ? 'rejected' : 'used';
  const mod = { exports: {} as unknown, filename: file, id: file, loaded: false };
  const run = script.runInThisContext() as (e: unknown, r: NodeJS.Require, m: unknown, f: string, d: string) => void;
  // This file's require: the bundle is in the same directory, so it resolves what the bundle's own
  // would (node: modules, and the addon by absolute path).
  run.call(mod.exports, mod.exports, require, mod, file, __dirname);
}

load();
