// Build: TypeScript bundled ahead of time into one CommonJS file (no compilation at run time), and
// the native layer (executor + addon) compiled from source with make.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

await build({
  entryPoints: [join(root, 'src/index.ts')],
  outfile: join(root, 'build/moat.js'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  minifySyntax: true,
  sourcemap: false,
  legalComments: 'none',
  define: { MOAT_VERSION: JSON.stringify(pkg.version) },
  logLevel: 'warning',
});

// containerd-shim-moat-v2 (docs/shim.md): the shim's own bundle, loaded as one file at each start.
await build({
  entryPoints: [join(root, 'src/shim/main.ts')],
  outfile: join(root, 'build/shim.js'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  minifySyntax: true,
  sourcemap: false,
  legalComments: 'none',
  define: { MOAT_VERSION: JSON.stringify(pkg.version) },
  logLevel: 'warning',
});

// The sentry process: its own small bundle, so its start-up loads only the kernel.
await build({
  entryPoints: [join(root, 'src/sentry/main.ts')],
  outfile: join(root, 'build/sentry.js'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  minifySyntax: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
});

execFileSync('make', ['-s', '-C', join(root, 'native')], { stdio: 'inherit' });
