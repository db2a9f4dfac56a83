// Run by scripts/build.mjs right after the bundle is written: compiles build/moat-cli.js as the
// loader does, runs the part of the CLI that every command runs, and writes V8's code cache to
// build/moat-cli.cache (format: code-cache.ts).
//
// What V8 puts in a cache is the bytecode of the functions compiled so far. Compiled at load only,
// that is the bundle's top level; compiled eagerly (--no-lazy), all of it: 1.2 MB that every
// command then deserialises, slower than compiling what it uses (measured, docs/cli-speed.md). So
// the cache is taken after a training run of `moat --version` and of `state` of a container that
// does not exist, under a state root made for it and removed: flag parsing, the runtime and the
// state store, which every lifecycle command runs, are then in the cache too.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Script } from 'node:vm';
import { BUNDLE_FILE, bundleId, CACHE_FILE, cacheHeader, type BundleFunction } from './code-cache';

const dir = path.resolve(process.argv[2] ?? __dirname);
const file = path.join(dir, BUNDLE_FILE);
const source = fs.readFileSync(file, 'latin1');
const id = bundleId(source);
if (!id) throw new Error(`${file}: no \`// moat-cli sha256:\` first line`);
const script = new Script(source, { filename: file });
const bundle = script.runInThisContext() as BundleFunction;

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-cache-training-'));
const quiet = () => true;
const streams = [process.stdout, process.stderr] as const;
const writes = streams.map((s) => s.write);
function run(args: string[]): void {
  process.argv = [process.argv[0]!, file, ...args];
  const mod = { exports: {} };
  bundle.call(mod.exports, mod.exports, require, mod, file, dir);
}

streams.forEach((s) => (s.write = quiet));
try {
  // Two runs of one compiled script: its functions are compiled once, whatever runs them.
  run(['--version']);
  run(['--root', root, 'state', 'moat-cache-training']);
} finally {
  // main() is async: its last steps run on the next turns of the loop.
  setTimeout(() => {
    streams.forEach((s, i) => (s.write = writes[i]!));
    fs.rmSync(root, { recursive: true, force: true });
    process.exitCode = 0;
    const data = script.createCachedData();
    const out = path.join(dir, CACHE_FILE);
    const tmp = `${out}.${process.pid}`;
    fs.writeFileSync(tmp, Buffer.concat([Buffer.from(cacheHeader(id, process.version), 'latin1'), data]));
    fs.renameSync(tmp, out);
  }, 50);
}
