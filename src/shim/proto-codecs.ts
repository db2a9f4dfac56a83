// The shim's protobuf encoders and decoders compiled at build time. protobufjs generates each
// message type's constructor, encode, decode, verify, fromObject and toObject as source text and
// compiles it with `Function` at the type's first use: ~40 ms of CPU for the twenty-odd types of a
// container's first calls and events, in every new server (one per pod), and code that no V8 code
// cache holds. scripts/build.mjs runs the same generators (protobufjs's own) at build time and puts
// their text into the bundle as functions (the module `moat:shim-codecs`, also written to
// build/shim-codecs.js for the tests); here each type's setup takes them instead of generating
// them. Same functions, same scope (Writer, Reader, the field types, util): only where they are
// compiled changes. Types with a protobufjs wrapper (google.protobuf.Any) keep protobufjs's setup.

import * as protobuf from 'protobufjs/light';

type Fn = (...args: any[]) => any;

/** What a type's generated functions are, given their scope. */
export interface Codec {
  ctor: Fn;
  encode: Fn;
  decode: Fn;
  verify: Fn;
  fromObject: Fn;
  toObject: Fn;
}

/** Full type name (no leading dot) → its functions made in scope. */
export type Codecs = Record<string, (Writer: typeof protobuf.Writer, Reader: typeof protobuf.Reader, types: unknown[], util: typeof protobuf.util) => Codec>;

/**
 * Make each type of `codecs` set itself up from them at its first use (protobufjs calls `setup`
 * from the stubs of encode, decode, verify, fromObject and toObject), as Type.prototype.setup does
 * with the functions it generates.
 */
export function installCodecs(root: protobuf.Root, codecs: Codecs): void {
  for (const [name, make] of Object.entries(codecs)) {
    const t = root.lookupType(name);
    t.setup = function setupPrecompiled(this: protobuf.Type): protobuf.Type {
      const types = this.fieldsArray.map((f) => f.resolve().resolvedType);
      const c = make(protobuf.Writer, protobuf.Reader, types, protobuf.util);
      this.ctor = c.ctor as unknown as protobuf.Constructor<object>; // the setter: prototype, $type, oneof getters
      Object.assign(this, { encode: c.encode, decode: c.decode, verify: c.verify, fromObject: c.fromObject, toObject: c.toObject });
      return this;
    };
  }
}
