// Run by scripts/build.mjs right after the bundles are written: `produce-cache.js <build dir>
// moat-cli|moat-shim [serve]|moat-sentry` compiles the bundle as the loader does (load.ts), runs the part of it
// that every process runs, and writes V8's code cache beside it (format: code-cache.ts).
//
// What V8 puts in a cache is the bytecode of the functions compiled so far. Compiled at load only,
// that is the bundle's top level; compiled eagerly (--no-lazy), all of it: 1.2 MB that every
// command then deserialises, slower than compiling what it uses (measured, docs/cli-speed.md). So
// the cache is taken after a training run:
// - the CLI: `moat --version` and `state` of a container that does not exist, under a state root
//   made for it and removed: flag parsing, the runtime and the state store, which every lifecycle
//   command runs, are then in the cache too;
// - the shim: `-v` and `delete` of a container that does not exist (containerd runs `delete` after
//   every container), in a bundle directory made for it and removed: flag parsing, the look at the
//   state directory and the mount table, the DeleteResponse;
// - the shim's server (`serve`, its own cache): the bundle's codeCacheTraining (src/shim/main.ts),
//   the server's modules and its first messages, without serving;
// - the sentry: a real start (sentry-training.ts): `/bin/true` sandboxed over the host's root, as
//   `moat do --isolation=sentry /bin/true` runs it, the cache taken as the sentry exits.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Script } from 'node:vm';
import { bundleId, cacheHeader, CLI, SENTRY, SHIM, type BundleFunction } from './code-cache';
import { trainSentryCache } from './sentry-training';

const dir = path.resolve(process.argv[2] ?? __dirname);
if (process.argv[3] === SENTRY.name) {
  trainSentryCache(dir);
} else {
  produce();
}

function produce(): void {
  const b = process.argv[3] === SHIM.name ? SHIM : CLI;
  const serve = process.argv[4] === 'serve' && b.serveCache !== undefined;
  const file = path.join(dir, b.bundle);
  const source = fs.readFileSync(file, 'latin1');
  const id = bundleId(source, b.name);
  if (!id) throw new Error(`${file}: no \`// ${b.name} sha256:\` first line`);
  const script = new Script(source, { filename: file });
  const bundle = script.runInThisContext() as BundleFunction;

  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'moat-cache-training-'));
  const quiet = () => true;
  const streams = [process.stdout, process.stderr] as const;
  const writes = streams.map((s) => s.write);
  function run(args: string[]): Record<string, unknown> {
    process.argv = [process.argv[0]!, file, ...args];
    const mod = { exports: {} as Record<string, unknown> };
    bundle.call(mod.exports, mod.exports, require, mod, file, dir);
    return mod.exports;
  }
  let training: Promise<void> = Promise.resolve();

  streams.forEach((s) => (s.write = quiet));
  try {
    // Two runs of one compiled script: its functions are compiled once, whatever runs them.
    if (b === SHIM) {
      const exports = run(['-v']);
      if (serve) {
        // The server's start and first calls, by the bundle's own hook (src/shim/main.ts).
        training = (exports.codeCacheTraining as () => Promise<void>)();
      } else {
        const ns = ['-namespace', 'moat-cache-training', '-address', path.join(scratch, 'containerd.sock'), '-publish-binary', '/bin/false'];
        run([...ns, '-id', 'moat-cache-training', '-bundle', scratch, 'delete']);
      }
    } else {
      run(['--version']);
      run(['--root', scratch, 'state', 'moat-cache-training']);
    }
  } finally {
    // main() is async: its last steps run on the next turns of the loop.
    setTimeout(async () => {
      await training;
      streams.forEach((s, i) => (s.write = writes[i]!));
      fs.rmSync(scratch, { recursive: true, force: true });
      process.exitCode = 0;
      const data = script.createCachedData();
      const out = path.join(dir, serve ? b.serveCache! : b.cache);
      const tmp = `${out}.${process.pid}`;
      fs.writeFileSync(tmp, Buffer.concat([Buffer.from(cacheHeader(id, process.version), 'latin1'), data]));
      fs.renameSync(tmp, out);
    }, 50);
  }
}
