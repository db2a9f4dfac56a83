// A small typed reader over untrusted JSON. Every accessor names the full field path in its error,
// so a mistyped config.json gets one line saying exactly which field and what was expected.

import { ConfigError } from '../util/errors';

type Json = unknown;

function kind(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

export class JsonReader {
  constructor(
    readonly value: Json,
    readonly path: string,
  ) {}

  private fail(problem: string): never {
    throw new ConfigError(this.path || '(root)', problem);
  }

  private child(key: string): JsonReader {
    const obj = this.object();
    const p = this.path ? `${this.path}.${key}` : key;
    return new JsonReader(Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined, p);
  }

  isPresent(): boolean {
    return this.value !== undefined && this.value !== null;
  }

  object(): Record<string, Json> {
    if (typeof this.value !== 'object' || this.value === null || Array.isArray(this.value)) {
      this.fail(`expected an object, got ${kind(this.value)}`);
    }
    return this.value as Record<string, Json>;
  }

  field(key: string): JsonReader {
    return this.child(key);
  }

  has(key: string): boolean {
    return this.child(key).isPresent();
  }

  string(): string {
    if (typeof this.value !== 'string') this.fail(`expected a string, got ${kind(this.value)}`);
    if (this.value.includes('\0')) this.fail('must not contain a NUL byte');
    return this.value;
  }

  boolean(): boolean {
    if (typeof this.value !== 'boolean') this.fail(`expected a boolean, got ${kind(this.value)}`);
    return this.value;
  }

  /** An integer within [min, max]. */
  int(min: number, max: number): number {
    if (typeof this.value !== 'number' || !Number.isInteger(this.value)) {
      this.fail(`expected an integer, got ${kind(this.value) === 'number' ? String(this.value) : kind(this.value)}`);
    }
    if (this.value < min || this.value > max) this.fail(`${this.value} is out of range [${min}, ${max}]`);
    return this.value;
  }

  array(): JsonReader[] {
    if (!Array.isArray(this.value)) this.fail(`expected an array, got ${kind(this.value)}`);
    return this.value.map((v, i) => new JsonReader(v, `${this.path}[${i}]`));
  }

  stringArray(): string[] {
    return this.array().map((r) => r.string());
  }

  stringMap(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.object())) {
      out[k] = new JsonReader(v, `${this.path}.${k}`).string();
    }
    return out;
  }

  optString(key: string): string | undefined {
    const c = this.child(key);
    return c.isPresent() ? c.string() : undefined;
  }

  optBoolean(key: string): boolean | undefined {
    const c = this.child(key);
    return c.isPresent() ? c.boolean() : undefined;
  }

  optInt(key: string, min: number, max: number): number | undefined {
    const c = this.child(key);
    return c.isPresent() ? c.int(min, max) : undefined;
  }

  optStringArray(key: string): string[] | undefined {
    const c = this.child(key);
    return c.isPresent() ? c.stringArray() : undefined;
  }

  reject(problem: string): never {
    this.fail(problem);
  }
}

export const U32_MAX = 0xffffffff;
/** JSON numbers above 2^53 are not exact; rlimits use this bound (and -1 style values are rejected). */
export const U64_SAFE_MAX = Number.MAX_SAFE_INTEGER;
