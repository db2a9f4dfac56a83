// The format of V8's code caches of moat's bundles: build/moat-cli.cache for the CLI
// (docs/cli-speed.md), build/moat-shim.cache for containerd-shim-moat-v2 (docs/shim.md) and
// build/moat-sentry.cache for the sentry process (docs/sentry.md, "Start-up").
//
// A bundle's first line names it: `// <name> sha256:<hex of the bundle>` (scripts/build.mjs). The
// cache is one text line, `moat-code-cache 1 <node version> <that line>`, then V8's bytes. The
// loader uses the bytes only when the line matches the bundle and the Node it runs on; V8 then
// checks its own version, flags and the source's length, and compiles from the source if they
// differ. A stale cache is thus never used, only ignored: the program is as it was, compiled at start.

/** A bundle that a loader (src/boot/load.ts) runs with its code cache. */
export interface BootBundle {
  /** The name on the bundle's first line. */
  name: 'moat-cli' | 'moat-shim' | 'moat-sentry';
  /** File names in build/. */
  bundle: string;
  cache: string;
  /** How the program names itself in an error. */
  label: string;
  /**
   * The shim: a second cache for its server (`… serve`, one per pod), trained on the server's code.
   * One cache for both costs each per-container `start` and `delete` the deserialising of the
   * server's bytecode (delete: ~14 ms more CPU, measured; docs/shim.md).
   */
  serveCache?: string;
}

export const CLI: BootBundle = { name: 'moat-cli', bundle: 'moat-cli.js', cache: 'moat-cli.cache', label: 'moat' };
export const SHIM: BootBundle = { name: 'moat-shim', bundle: 'moat-shim.js', cache: 'moat-shim.cache', serveCache: 'moat-shim-serve.cache', label: 'containerd-shim-moat-v2' };

export const SENTRY: BootBundle = { name: 'moat-sentry', bundle: 'moat-sentry.js', cache: 'moat-sentry.cache', label: 'moat sentry' };

/**
 * The sentry's Node flags (src/sentry/container.ts starts it with them). V8 refuses a cache made
 * under other flags, so the cache's producer runs with the same (src/boot/produce-cache.ts).
 */
export const SENTRY_NODE_FLAGS: readonly string[] = ['--stack-size=4000'];

/** The cache file for a process of bundle `b` run with `argv` (process.argv). */
export function cacheFileFor(b: BootBundle, argv: readonly string[]): string {
  return b.serveCache && argv[argv.length - 1] === 'serve' ? b.serveCache : b.cache;
}

/** The bundle's identity: its first line (built by scripts/build.mjs), or undefined. */
export function bundleId(source: string, name: BootBundle['name'] = CLI.name): string | undefined {
  const nl = source.indexOf('\n');
  const first = nl < 0 ? source : source.slice(0, nl);
  return new RegExp(`^// ${name} sha256:[0-9a-f]{64}$`).test(first) ? first : undefined;
}

export function cacheHeader(id: string, nodeVersion: string): string {
  return `moat-code-cache 1 ${nodeVersion} ${id}\n`;
}

/** V8's bytes of a cache file made for this bundle and this Node, else undefined. */
export function cachePayload(file: Buffer | undefined, id: string | undefined, nodeVersion: string): Buffer | undefined {
  if (!file || !id) return undefined;
  const header = cacheHeader(id, nodeVersion);
  if (file.length <= header.length || file.toString('latin1', 0, header.length) !== header) return undefined;
  return file.subarray(header.length);
}

/** What running a bundle file's text gives: the bundle as Node would wrap a CommonJS module. */
export type BundleFunction = (exports: unknown, require: NodeJS.Require, module: unknown, filename: string, dirname: string) => void;
