// Build: TypeScript bundled ahead of time into one CommonJS file (no compilation at run time), and
// the native layer (executor + addon) compiled from source with make; the SDK's type declarations.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** One CommonJS bundle for Node 20: entry (under src/) to out (under build/). */
function bundle(entry, out, define = {}, write = true) {
  return build({
    charset: 'ascii',
    entryPoints: [join(root, entry)],
    outfile: join(root, out),
    write,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    minifySyntax: true,
    sourcemap: false,
    legalComments: 'none',
    define,
    logLevel: 'warning',
  });
}

/**
 * The CLI (docs/cli-speed.md): the bundle build/moat-cli.js (a function expression: the module
 * wrapper and the bundle), named on its first line by the hash of the bundle; build/moat.js, the
 * loader bin/moat runs; build/moat-cli.cache, V8's code cache of the bundle, made below by the Node
 * that will run it (a cache of another Node or bundle is ignored).
 */
async function cli() {
  const [out] = (await bundle('src/index.ts', 'build/moat-cli.js', version, false)).outputFiles;
  // ASCII, so that the loader reads it as latin1 (a one-byte string, no UTF-8 decoding): esbuild
  // escapes strings and templates (charset above) but not comments and regular expressions, where
  // \uXXXX means the same character.
  const code = Buffer.from(out.text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
  const id = `// moat-cli sha256:${createHash('sha256').update(code).digest('hex')}\n`;
  // Written as the function Node would wrap a CommonJS module in, so that the loader compiles the
  // file's text as it is (a wrapper added at each start is one more copy of 650 KB to flatten).
  const wrapped = [id, '(function (exports, require, module, __filename, __dirname) {\n', code, '\n});\n'];
  mkdirSync(join(root, 'build'), { recursive: true });
  // The old cache goes first (a moat starting meanwhile compiles), the bundle is replaced whole.
  rmSync(join(root, 'build', 'moat-cli.cache'), { force: true });
  const tmp = join(root, 'build', `.moat-cli.js.${process.pid}`);
  writeFileSync(tmp, Buffer.concat(wrapped.map((x) => Buffer.from(x))));
  renameSync(tmp, join(root, 'build', 'moat-cli.js'));
  await Promise.all([bundle('src/boot/loader.ts', 'build/moat.js'), bundle('src/boot/produce-cache.ts', 'build/produce-cache.js')]);
}

const version = { MOAT_VERSION: JSON.stringify(pkg.version) };
// The CLI; containerd-shim-moat-v2 (docs/shim.md), loaded as one file at each start; the sentry
// process, its own small bundle so that its start-up loads only the kernel.
await Promise.all([
  cli(),
  bundle('src/shim/main.ts', 'build/shim.js', version),
  bundle('src/sentry/main.ts', 'build/sentry.js'),
  // The SDK (docs/sdk.md): the package's entry, with its type declarations under build/types.
  bundle('src/sdk/index.ts', 'build/sdk.js', version),
]);
execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.sdk.json')], { stdio: 'inherit' });

execFileSync('make', ['-s', '-C', join(root, 'native')], { stdio: 'inherit' });
// After make: the cache's training run of `state` opens the state store through the addon.
execFileSync(process.execPath, [join(root, 'build', 'produce-cache.js'), join(root, 'build')], { stdio: 'inherit' });
