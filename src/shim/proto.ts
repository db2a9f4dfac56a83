// The protobuf messages of the shim API, from the project's own .proto files (src/shim/proto/). The
// bundle (build/moat-shim.js) has them compiled at build time (scripts/build.mjs: protobufjs's JSON
// descriptors, also written to build/shim-descriptors.json) and carries only protobufjs's runtime,
// not its .proto parser: a server starts without reading and parsing seven files (~20–30 ms of CPU).
// Run from sources (the tests, build/ts), the files are parsed here. Field names are camelCase in
// JavaScript (exit_status → exitStatus), except google.protobuf.Any's `type_url`: protobufjs
// predefines the well-known types as they are spelled in their .proto. 64-bit integers come back as
// numbers.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs/light';
import { installCodecs, type Codecs } from './proto-codecs';

/** The files whose messages the shim uses (the others are imported by them). */
export const PROTO_FILES = ['ttrpc.proto', 'shim.proto', 'events.proto', 'runtimeoptions.proto', 'runc-options.proto', 'metrics.proto', 'events-ttrpc.proto'];

/** The descriptors compiled at build time (esbuild's define; JSON), in the bundle only. */
declare const MOAT_SHIM_DESCRIPTORS: string | undefined;

let rootCache: protobuf.Root | undefined;

/** src/shim/proto, found upward from this file (build/shim.js, or build/ts/src/shim for tests). */
export function protoDir(): string {
  const fromEnv = process.env.MOAT_SHIM_PROTO_DIR;
  if (fromEnv) return fromEnv;
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'src', 'shim', 'proto');
    if (fs.existsSync(path.join(candidate, 'shim.proto'))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error(`cannot find the shim's .proto files (src/shim/proto) above ${__dirname}`);
}

/** The .proto files parsed (protobufjs's full build, with its parser): from sources, and at build time. */
export function parseProtoFiles(dir = protoDir()): protobuf.Root {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- not in the bundle (dead code there)
  const full = require('protobufjs') as typeof import('protobufjs');
  const r = new full.Root();
  r.resolvePath = (_origin, target) => path.join(dir, target);
  r.loadSync(PROTO_FILES, { keepCase: false });
  return r;
}

export function root(): protobuf.Root {
  if (rootCache) return rootCache;
  let r: protobuf.Root;
  if (typeof MOAT_SHIM_DESCRIPTORS !== 'undefined') {
    r = protobuf.Root.fromJSON(JSON.parse(MOAT_SHIM_DESCRIPTORS) as protobuf.INamespace);
    r.resolveAll();
    // The encoders and decoders compiled at build time (proto-codecs.ts), a module of the bundle only.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    installCodecs(r, require('moat:shim-codecs') as Codecs);
  } else {
    r = parseProtoFiles();
    r.resolveAll();
  }
  return (rootCache = r);
}

export function type(name: string): protobuf.Type {
  return root().lookupType(name);
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: Number, bytes: Buffer, defaults: true, arrays: true, objects: true };

export type Msg = Record<string, any>;

export function decode(name: string, bytes: Uint8Array): Msg {
  const t = type(name);
  return t.toObject(t.decode(bytes), TO_OBJECT) as Msg;
}

export function encode(name: string, value: Msg): Buffer {
  const t = type(name);
  return Buffer.from(t.encode(t.fromObject(value)).finish());
}

/** A google.protobuf.Any holding `value` as message `name` (containerd's typeurl uses the bare name). */
export function anyOf(name: string, value: Msg): Msg {
  return { type_url: name, value: encode(name, value) };
}

/** The message name of an Any's type URL (`type.googleapis.com/x.y.Z` or `x.y.Z`). */
export function anyName(any: Msg | null | undefined): string {
  const url = String(any?.type_url ?? '');
  return url.slice(url.lastIndexOf('/') + 1);
}

export function timestamp(d: Date): Msg {
  const ms = d.getTime();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}
