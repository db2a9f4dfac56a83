// The format of build/moat-cli.cache, V8's code cache of the CLI bundle (docs/cli-speed.md).
//
// The bundle's first line names it: `// moat-cli sha256:<hex of the bundle>` (scripts/build.mjs). The
// cache is one text line, `moat-code-cache 1 <node version> <that line>`, then V8's bytes. The
// loader uses the bytes only when the line matches the bundle and the Node it runs on; V8 then
// checks its own version, flags and the source's length, and compiles from the source if they
// differ. A stale cache is thus never used, only ignored: the CLI is as it was, compiled at start.

export const BUNDLE_FILE = 'moat-cli.js';
export const CACHE_FILE = 'moat-cli.cache';
const BUNDLE_ID = /^\/\/ moat-cli sha256:[0-9a-f]{64}$/;

/** The bundle's identity: its first line (built by scripts/build.mjs), or undefined. */
export function bundleId(source: string): string | undefined {
  const nl = source.indexOf('\n');
  const first = nl < 0 ? source : source.slice(0, nl);
  return BUNDLE_ID.test(first) ? first : undefined;
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

/** What running build/moat-cli.js's text gives: the bundle as Node would wrap a CommonJS module. */
export type BundleFunction = (exports: unknown, require: NodeJS.Require, module: unknown, filename: string, dirname: string) => void;
