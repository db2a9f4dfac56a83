// Build: TypeScript bundled ahead of time into one CommonJS file (no compilation at run time), and
// the native layer (executor + addon) compiled from source with make; the SDK's type declarations.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** One CommonJS bundle for Node 20: entry (under src/) to out (under build/). */
function bundle(entry, out, define = {}, write = true, plugins = []) {
  return build({
    plugins,
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
 * A bundle run through a loader with V8's code cache (docs/cli-speed.md): the CLI (build/moat-cli.js,
 * loaded by build/moat.js, which bin/moat runs) and containerd-shim-moat-v2 (build/moat-shim.js,
 * loaded by build/shim.js; docs/shim.md). The bundle is a function expression (the module wrapper
 * and the bundle), named on its first line by `name` and the hash of the bundle; `name`.cache, V8's
 * code cache of it, is made below by the Node that will run it (a cache of another Node or bundle
 * is ignored).
 */
async function cached(entry, name, loaderEntry, loaderOut, define = {}, plugins = []) {
  const [out] = (await bundle(entry, `build/${name}.js`, { ...version, ...define }, false, plugins)).outputFiles;
  // ASCII, so that the loader reads it as latin1 (a one-byte string, no UTF-8 decoding): esbuild
  // escapes strings and templates (charset above) but not comments and regular expressions, where
  // \uXXXX means the same character.
  // The sentry's modules never read a built-in's default: the module itself (plainNodeNamespaces);
  // the other bundles share one wrapper per built-in (shareNodeNamespaces).
  const text = shareNodeNamespaces(name === 'moat-sentry' ? plainNodeNamespaces(out.text) : out.text);
  const code = Buffer.from(text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
  const id = `// ${name} sha256:${createHash('sha256').update(code).digest('hex')}\n`;
  // Written as the function Node would wrap a CommonJS module in, so that the loader compiles the
  // file's text as it is (a wrapper added at each start is one more copy of 650 KB to flatten).
  const wrapped = [id, '(function (exports, require, module, __filename, __dirname) {\n', code, '\n});\n'];
  mkdirSync(join(root, 'build'), { recursive: true });
  // The old cache goes first (a process starting meanwhile compiles), the bundle is replaced whole.
  for (const f of [`${name}.cache`, `${name}-serve.cache`]) rmSync(join(root, 'build', f), { force: true });
  const tmp = join(root, 'build', `.${name}.js.${process.pid}`);
  writeFileSync(tmp, Buffer.concat(wrapped.map((x) => Buffer.from(x))));
  renameSync(tmp, join(root, 'build', `${name}.js`));
  await bundle(loaderEntry, loaderOut);
}

/**
 * esbuild turns each file's `import * as fs from 'node:fs'` into `__toESM(require("node:fs"))`: a
 * new object with a getter for every property of the module (~100 for fs), once per importing
 * file — some hundred copies of node:fs, node:path, node:net … as a process initialises its modules,
 * measured at 20–40 ms of CPU for the shim's server here (docs/shim.md). One namespace per built-in
 * module instead, made at its first import and shared after (as ESM has one namespace object per
 * module; the getters read the module's properties as before). The helper is a function
 * declaration at the end: hoisted, whatever the preamble's order.
 */
function shareNodeNamespaces(text) {
  const re = /__toESM\(require\("(node:[a-z_/]+)"\)\)/g;
  const shared = text.replace(re, (_m, id) => `__moatNodeNamespace("${id}")`);
  if (shared === text) return text;
  const helper = 'function __moatNodeNamespace(id) {\n  const ns = __moatNodeNamespace.ns ??= new Map();\n  let m = ns.get(id);\n  if (m === undefined) ns.set(id, (m = __toESM(require(id))));\n  return m;\n}\n';
  return `${shared}\n${helper}`;
}

/**
 * `import * as fs from 'node:fs'` is `__toESM(require("node:fs"))` in esbuild's CommonJS output: a
 * new object with a getter per property of the module (and `default`), built at each of the 25
 * modules of the sentry that import fs so — ~10 ms of CPU at every sentry start (profiled,
 * docs/sentry.md). A namespace whose `default` is never read behaves the same as the module itself,
 * which is what it becomes here; one whose `default` is read (a default import) keeps the wrapper.
 */
function plainNodeNamespaces(text) {
  return text.replace(/\b([\w$]+) = __toESM\(require\("(node:[\w/]+)"\)\)/g, (all, v, mod) =>
    new RegExp(`(^|[^\\w$.])${v.replace(/\$/g, '\\$')}\\.default\\b`).test(text) ? all : `${v} = require("${mod}")`);
}

const version = { MOAT_VERSION: JSON.stringify(pkg.version) };

/**
 * The shim's protobuf messages, compiled here: every .proto of src/shim/proto parsed by protobufjs
 * as src/shim/proto.ts parses them from sources, as protobufjs's JSON descriptors, which the bundle
 * gets as the string MOAT_SHIM_DESCRIPTORS (and build/shim-descriptors.json, for test/unit/shim.test.ts).
 */
function shimProto() {
  const dir = join(root, 'src', 'shim', 'proto');
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => join(dir, target);
  r.loadSync(readdirSync(dir).filter((f) => f.endsWith('.proto')).sort(), { keepCase: false });
  r.resolveAll();
  const json = JSON.stringify(r.toJSON());
  mkdirSync(join(root, 'build'), { recursive: true });
  writeFileSync(join(root, 'build', 'shim-descriptors.json'), json);
  // The same root, from the JSON as the bundle builds it, for the codecs' field order.
  const codecs = shimCodecs(protobuf.Root.fromJSON(JSON.parse(json)).resolveAll());
  writeFileSync(join(root, 'build', 'shim-codecs.js'), codecs);
  const plugin = {
    name: 'moat-shim-codecs',
    setup(b) {
      b.onResolve({ filter: /^moat:shim-codecs$/ }, () => ({ path: 'shim-codecs', namespace: 'moat' }));
      b.onLoad({ filter: /.*/, namespace: 'moat' }, () => ({ contents: codecs, loader: 'js' }));
    },
  };
  // A string literal (parsed once, at the first message): an object would be a module of its own
  // that esbuild initialises from every other, and `typeof` of a string folds, so that the bundle
  // drops the parser's branch.
  return { define: { MOAT_SHIM_DESCRIPTORS: JSON.stringify(json) }, plugins: [plugin] };
}

/**
 * The message types' functions as protobufjs generates them at run time (Type.prototype.setup),
 * generated here as source text instead (src/shim/proto-codecs.ts): a CommonJS module mapping each
 * type's full name to a function of the generators' scope (Writer, Reader, types, util).
 */
function shimCodecs(r) {
  const types = [];
  const walk = (ns) => {
    for (const x of ns.nestedArray) {
      if (x instanceof protobuf.Type && !(x.fullName in protobuf.wrappers)) types.push(x);
      if (x.nestedArray) walk(x);
    }
  };
  walk(r);
  const fn = (gen) => `(${gen.toString()})`;
  const out = ['// Generated by scripts/build.mjs from src/shim/proto (protobufjs\'s generators): see src/shim/proto-codecs.ts.', 'module.exports = {'];
  for (const t of types) {
    out.push(`${JSON.stringify(t.fullName.slice(1))}: function (Writer, Reader, types, util) { return {`);
    out.push(`ctor: (function () { ${protobuf.Type.generateConstructor(t).toString().replace(/^function /, 'return function ')} })(),`);
    out.push(`encode: ${fn(protobuf.encoder(t))},`, `decode: ${fn(protobuf.decoder(t))},`, `verify: ${fn(protobuf.verifier(t))},`);
    out.push(`fromObject: ${fn(protobuf.converter.fromObject(t))},`, `toObject: ${fn(protobuf.converter.toObject(t))},`, '}; },');
  }
  out.push('};', '');
  return out.join('\n');
}
// The CLI, containerd-shim-moat-v2 (docs/shim.md) and the sentry process (its own bundle, so that its
// start-up loads only the kernel), each with its loader.
await Promise.all([
  cached('src/index.ts', 'moat-cli', 'src/boot/loader.ts', 'build/moat.js'),
  ((p) => cached('src/shim/main.ts', 'moat-shim', 'src/boot/shim-loader.ts', 'build/shim.js', p.define, p.plugins))(shimProto()),
  bundle('src/boot/produce-cache.ts', 'build/produce-cache.js'),
  // The sentry process: build/sentry.js loads build/moat-sentry.js with its cache (docs/sentry.md).
  cached('src/sentry/main.ts', 'moat-sentry', 'src/boot/sentry-loader.ts', 'build/sentry.js'),
  // The SDK (docs/sdk.md): the package's entry, with its type declarations under build/types.
  bundle('src/sdk/index.ts', 'build/sdk.js', version),
]);
execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.sdk.json')], { stdio: 'inherit' });

execFileSync('make', ['-s', '-C', join(root, 'native')], { stdio: 'inherit' });
// After make: the CLI cache's training run of `state` opens the state store through the addon.
// The shim has two: its server's (one per pod) apart from start's and delete's (per container).
// The sentry's is trained on a real start of /bin/true (src/boot/sentry-training.ts).
for (const args of [['moat-cli'], ['moat-shim'], ['moat-shim', 'serve'], ['moat-sentry']]) {
  // stdout away: the training's commands write their answers to fd 1 directly (src/util/stdout.ts).
  execFileSync(process.execPath, [join(root, 'build', 'produce-cache.js'), join(root, 'build'), ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
}
