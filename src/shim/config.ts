// The moat config a RuntimeClass handler names: containerd passes the handler's `options` in
// CreateTaskRequest.options — runtimeoptions.v1.Options{ConfigPath} from CRI (and from
// `ctr run --runtime-config-path`), or the runc options' BinaryName — and the file (JSON) says
// which isolation the handler's containers get and which knobs an annotation may change:
//
//   { "isolation": "sentry",                      native | sentry | vm (default native)
//     "allowAnnotationIsolation": ["vm"],        what dev.moat.isolation may choose instead
//     "strace": false, "systemdCgroup": false, "vmAccel": "auto" }
//
// Without a config the container gets native isolation, and its dev.moat.isolation annotation may
// choose any platform (each is at least as strong as native) — the moat CLI's own rule.

import * as fs from 'node:fs';
import { ISOLATION_ANNOTATION, PLATFORMS, type PlatformName } from '../platform/types';
import { MoatError } from '../util/errors';
import { anyName, decode, type Msg } from './proto';

export interface ShimConfig {
  isolation: PlatformName;
  allowAnnotationIsolation: PlatformName[];
  strace: boolean;
  systemdCgroup: boolean;
  vmAccel?: string;
}

export const DEFAULT_CONFIG: ShimConfig = { isolation: 'native', allowAnnotationIsolation: [...PLATFORMS], strace: false, systemdCgroup: false };

/** The config path in containerd's runtime options Any, if any. */
export function configPathOf(options: Msg | null | undefined): string | undefined {
  if (!options || !options.value || (options.value as Buffer).length === 0) return undefined;
  const name = anyName(options);
  if (name === 'runtimeoptions.v1.Options') return decode('runtimeoptions.v1.Options', options.value).configPath || undefined;
  if (name === 'containerd.runc.v1.Options') return decode('containerd.runc.v1.Options', options.value).binaryName || undefined;
  throw new MoatError('EUSAGE', `options: unsupported runtime options type ${JSON.stringify(name)} (runtimeoptions.v1.Options with ConfigPath, or containerd.runc.v1.Options)`);
}

function platformField(v: unknown, field: string, file: string): PlatformName {
  if (typeof v === 'string' && (PLATFORMS as readonly string[]).includes(v)) return v as PlatformName;
  throw new MoatError('ECONFIG', `${file}: ${field}: expected one of ${PLATFORMS.join(', ')}, got ${JSON.stringify(v)}`);
}

function boolField(o: Record<string, unknown>, key: string, file: string): boolean {
  const v = o[key];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new MoatError('ECONFIG', `${file}: ${key}: expected true or false`);
  return v;
}

export function parseConfig(text: string, file: string): ShimConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new MoatError('ECONFIG', `${file}: not JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new MoatError('ECONFIG', `${file}: expected a JSON object`);
  const o = raw as Record<string, unknown>;
  const known = new Set(['isolation', 'allowAnnotationIsolation', 'strace', 'systemdCgroup', 'vmAccel']);
  for (const k of Object.keys(o)) if (!known.has(k)) throw new MoatError('ECONFIG', `${file}: unknown key ${JSON.stringify(k)}`);
  const allow = o.allowAnnotationIsolation ?? [];
  if (!Array.isArray(allow)) throw new MoatError('ECONFIG', `${file}: allowAnnotationIsolation: expected a list`);
  const vmAccel = o.vmAccel;
  if (vmAccel !== undefined && !['auto', 'kvm', 'tcg'].includes(vmAccel as string)) throw new MoatError('ECONFIG', `${file}: vmAccel: expected auto, kvm or tcg`);
  return {
    isolation: o.isolation === undefined ? 'native' : platformField(o.isolation, 'isolation', file),
    allowAnnotationIsolation: allow.map((v, i) => platformField(v, `allowAnnotationIsolation[${i}]`, file)),
    strace: boolField(o, 'strace', file),
    systemdCgroup: boolField(o, 'systemdCgroup', file),
    ...(vmAccel !== undefined ? { vmAccel: vmAccel as string } : {}),
  };
}

export function loadConfig(options: Msg | null | undefined): ShimConfig {
  const file = configPathOf(options);
  if (file === undefined) return DEFAULT_CONFIG;
  if (!file.startsWith('/')) throw new MoatError('EUSAGE', `options: ConfigPath ${JSON.stringify(file)} is not an absolute path`);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new MoatError('ECONFIG', `${file}: cannot read the moat config: ${(err as Error).message}`);
  }
  return parseConfig(text, file);
}

/** The platform of a container: the config's, or its annotation's when the config allows that one. */
export function isolationFor(cfg: ShimConfig, annotations: Record<string, string>): PlatformName {
  const asked = annotations[ISOLATION_ANNOTATION];
  if (asked === undefined || asked === cfg.isolation) return cfg.isolation;
  const p = platformField(asked, `annotations.${ISOLATION_ANNOTATION}`, 'config.json');
  if (!cfg.allowAnnotationIsolation.includes(p)) {
    throw new MoatError('EUSAGE', `annotations.${ISOLATION_ANNOTATION}: ${JSON.stringify(p)} is not allowed by this runtime handler's moat config (isolation ${cfg.isolation}; allowAnnotationIsolation: ${cfg.allowAnnotationIsolation.join(', ') || 'none'})`);
  }
  return p;
}
