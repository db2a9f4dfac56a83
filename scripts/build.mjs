// Build: TypeScript bundled ahead of time into one CommonJS file (no compilation at run time), and
// the native layer (executor + addon) compiled from source with make; the SDK's type declarations.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** One CommonJS bundle for Node 20: entry (under src/) to out (under build/). */
function bundle(entry, out, define = {}) {
  return build({
    entryPoints: [join(root, entry)],
    outfile: join(root, out),
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

const version = { MOAT_VERSION: JSON.stringify(pkg.version) };
// The CLI; containerd-shim-moat-v2 (docs/shim.md), loaded as one file at each start; the sentry
// process, its own small bundle so that its start-up loads only the kernel.
await Promise.all([
  bundle('src/index.ts', 'build/moat.js', version),
  bundle('src/shim/main.ts', 'build/shim.js', version),
  bundle('src/sentry/main.ts', 'build/sentry.js'),
  // The SDK (docs/sdk.md): the package's entry, with its type declarations under build/types.
  bundle('src/sdk/index.ts', 'build/sdk.js', version),
]);
execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.sdk.json')], { stdio: 'inherit' });

execFileSync('make', ['-s', '-C', join(root, 'native')], { stdio: 'inherit' });
