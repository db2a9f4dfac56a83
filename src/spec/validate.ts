// config.json → Spec. Everything from the bundle is hostile until it passes through here.
// Unknown fields are ignored (the runtime-spec requires it); known fields must have the right type.

import { ConfigError } from '../util/errors';
import { JsonReader, U32_MAX } from './reader';
import type {
  Capabilities,
  Device,
  Hook,
  Hooks,
  IdMapping,
  Linux,
  Mount,
  Namespace,
  NamespaceType,
  Process,
  Rlimit,
  Spec,
  TimeOffset,
} from './types';

const NAMESPACE_TYPES: readonly NamespaceType[] = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'];
/** Values of RLIM_INFINITY as JSON producers spell it (u64 max, which JSON.parse rounds to 2^64). */
export const RLIM_INFINITY = -1;

export function parseSpec(text: string): Spec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('(root)', `not valid JSON: ${(err as Error).message}`);
  }
  return validateSpec(raw);
}

export function validateSpec(raw: unknown): Spec {
  const r = new JsonReader(raw, '');
  r.object();
  const ociVersion = r.field('ociVersion').string();
  if (!/^1\.\d+\.\d+/.test(ociVersion)) {
    throw new ConfigError('ociVersion', `unsupported version ${JSON.stringify(ociVersion)} (moat speaks 1.x)`);
  }
  const spec: Spec = {
    ociVersion,
    mounts: r.has('mounts') ? r.field('mounts').array().map(readMount) : [],
    annotations: r.has('annotations') ? r.field('annotations').stringMap() : {},
  };
  if (r.has('root')) {
    const root = r.field('root');
    const path = root.field('path').string();
    if (path === '') throw new ConfigError('root.path', 'must not be empty');
    spec.root = { path, readonly: root.optBoolean('readonly') ?? false };
  }
  if (r.has('process')) spec.process = readProcess(r.field('process'));
  const hostname = r.optString('hostname');
  if (hostname !== undefined) spec.hostname = checkHostname('hostname', hostname);
  const domainname = r.optString('domainname');
  if (domainname !== undefined) spec.domainname = checkHostname('domainname', domainname);
  if (r.has('linux')) spec.linux = readLinux(r.field('linux'));
  if (r.has('hooks')) spec.hooks = readHooks(r.field('hooks'));
  return spec;
}

function checkHostname(field: string, name: string): string {
  // The kernel takes up to 64 bytes (__NEW_UTS_LEN) and any bytes; refuse what cannot be set.
  if (Buffer.byteLength(name) > 64) throw new ConfigError(field, 'longer than 64 bytes');
  return name;
}

function absolutePath(r: JsonReader, allowEmpty = false): string {
  const s = r.string();
  if (s === '' && allowEmpty) return s;
  if (!s.startsWith('/')) r.reject(`must be an absolute path, got ${JSON.stringify(s)}`);
  return s;
}

function readMount(r: JsonReader): Mount {
  r.object();
  const destination = r.field('destination').string();
  if (destination === '') r.field('destination').reject('must not be empty');
  // The spec allows relative destinations for compatibility (taken relative to /).
  const m: Mount = { destination: destination.startsWith('/') ? destination : `/${destination}` };
  const type = r.optString('type');
  if (type !== undefined) m.type = type;
  const source = r.optString('source');
  if (source !== undefined) m.source = source;
  const options = r.optStringArray('options');
  if (options !== undefined) m.options = options;
  return m;
}

/** A Process object on its own (`moat exec --process FILE`); errors name `field`. */
export function parseProcess(raw: unknown, field = 'process'): Process {
  return readProcess(new JsonReader(raw, field));
}

function readProcess(r: JsonReader): Process {
  r.object();
  const args = r.field('args').stringArray();
  if (args.length === 0) r.field('args').reject('must name the program to run (empty array)');
  const cwd = absolutePath(r.field('cwd'));
  const user = r.field('user');
  const p: Process = {
    args,
    cwd,
    env: r.optStringArray('env') ?? [],
    user: {
      uid: user.field('uid').int(0, U32_MAX - 1),
      gid: user.field('gid').int(0, U32_MAX - 1),
      additionalGids: user.has('additionalGids')
        ? user.field('additionalGids').array().map((g) => g.int(0, U32_MAX - 1))
        : [],
    },
    rlimits: r.has('rlimits') ? r.field('rlimits').array().map(readRlimit) : [],
  };
  const umask = user.optInt('umask', 0, 0o777);
  if (umask !== undefined) p.user.umask = umask;
  for (const [i, e] of p.env.entries()) {
    if (!e.includes('=')) throw new ConfigError(`process.env[${i}]`, `${JSON.stringify(e)} is not KEY=VALUE`);
  }
  const terminal = r.optBoolean('terminal');
  if (terminal !== undefined) p.terminal = terminal;
  if (r.has('consoleSize')) {
    const cs = r.field('consoleSize');
    p.consoleSize = { height: cs.field('height').int(0, 0xffff), width: cs.field('width').int(0, 0xffff) };
  }
  if (r.has('capabilities')) p.capabilities = readCapabilities(r.field('capabilities'));
  const nnp = r.optBoolean('noNewPrivileges');
  if (nnp !== undefined) p.noNewPrivileges = nnp;
  const oom = r.optInt('oomScoreAdj', -1000, 1000);
  if (oom !== undefined) p.oomScoreAdj = oom;
  const aa = r.optString('apparmorProfile');
  if (aa !== undefined) p.apparmorProfile = aa;
  const se = r.optString('selinuxLabel');
  if (se !== undefined) p.selinuxLabel = se;
  return p;
}

function readCapabilities(r: JsonReader): Capabilities {
  r.object();
  const c: Capabilities = {};
  for (const set of ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'] as const) {
    const v = r.optStringArray(set);
    if (v !== undefined) c[set] = v;
  }
  return c;
}

function rlimitValue(r: JsonReader): number {
  if (typeof r.value !== 'number' || r.value < 0 || !Number.isInteger(r.value)) {
    r.reject('expected a non-negative integer');
  }
  // u64 values that JSON cannot carry exactly are, in practice, RLIM_INFINITY (2^64-1).
  return r.value >= 2 ** 63 ? RLIM_INFINITY : r.value;
}

function readRlimit(r: JsonReader): Rlimit {
  r.object();
  const type = r.field('type').string();
  if (!/^RLIMIT_[A-Z]+$/.test(type)) r.field('type').reject(`${JSON.stringify(type)} is not an RLIMIT_ name`);
  const hard = rlimitValue(r.field('hard'));
  const soft = rlimitValue(r.field('soft'));
  const softAboveHard = hard !== RLIM_INFINITY && (soft === RLIM_INFINITY || soft > hard);
  if (softAboveHard) r.reject(`${type}: soft limit above hard limit`);
  return { type, hard, soft };
}

function readNamespace(r: JsonReader): Namespace {
  r.object();
  const type = r.field('type').string();
  if (!(NAMESPACE_TYPES as readonly string[]).includes(type)) {
    r.field('type').reject(`unknown namespace type ${JSON.stringify(type)} (known: ${NAMESPACE_TYPES.join(', ')})`);
  }
  const ns: Namespace = { type: type as NamespaceType };
  const path = r.optString('path');
  if (path !== undefined && path !== '') ns.path = absolutePath(r.field('path'));
  return ns;
}

function readIdMapping(r: JsonReader): IdMapping {
  r.object();
  return {
    containerID: r.field('containerID').int(0, U32_MAX - 1),
    hostID: r.field('hostID').int(0, U32_MAX - 1),
    size: r.field('size').int(1, U32_MAX),
  };
}

function readDevice(r: JsonReader): Device {
  r.object();
  const type = r.field('type').string();
  if (!['c', 'b', 'u', 'p'].includes(type)) r.field('type').reject(`${JSON.stringify(type)} is not one of c, b, u, p`);
  const d: Device = { type: type as Device['type'], path: absolutePath(r.field('path')) };
  const major = r.optInt('major', 0, 0xfff);
  const minor = r.optInt('minor', 0, 0xfffff);
  if (type !== 'p' && (major === undefined || minor === undefined)) {
    r.reject(`device ${d.path}: major and minor are required for type ${type}`);
  }
  if (major !== undefined) d.major = major;
  if (minor !== undefined) d.minor = minor;
  const fileMode = r.optInt('fileMode', 0, 0o7777);
  if (fileMode !== undefined) d.fileMode = fileMode;
  const uid = r.optInt('uid', 0, U32_MAX - 1);
  if (uid !== undefined) d.uid = uid;
  const gid = r.optInt('gid', 0, U32_MAX - 1);
  if (gid !== undefined) d.gid = gid;
  return d;
}

function readLinux(r: JsonReader): Linux {
  r.object();
  const linux: Linux = {
    namespaces: r.has('namespaces') ? r.field('namespaces').array().map(readNamespace) : [],
    uidMappings: r.has('uidMappings') ? r.field('uidMappings').array().map(readIdMapping) : [],
    gidMappings: r.has('gidMappings') ? r.field('gidMappings').array().map(readIdMapping) : [],
    devices: r.has('devices') ? r.field('devices').array().map(readDevice) : [],
    sysctl: r.has('sysctl') ? r.field('sysctl').stringMap() : {},
    maskedPaths: (r.optStringArray('maskedPaths') ?? []).map((p, i) => checkAbs(`linux.maskedPaths[${i}]`, p)),
    readonlyPaths: (r.optStringArray('readonlyPaths') ?? []).map((p, i) => checkAbs(`linux.readonlyPaths[${i}]`, p)),
  };
  const seen = new Set<string>();
  for (const [i, ns] of linux.namespaces.entries()) {
    if (seen.has(ns.type)) throw new ConfigError(`linux.namespaces[${i}]`, `duplicate namespace ${ns.type}`);
    seen.add(ns.type);
  }
  const cgroupsPath = r.optString('cgroupsPath');
  if (cgroupsPath !== undefined) linux.cgroupsPath = cgroupsPath;
  const prop = r.optString('rootfsPropagation');
  if (prop !== undefined) {
    const ok = ['shared', 'slave', 'private', 'unbindable', 'rshared', 'rslave', 'rprivate', 'runbindable'];
    if (prop !== '' && !ok.includes(prop)) r.field('rootfsPropagation').reject(`unknown propagation ${JSON.stringify(prop)}`);
    if (prop !== '') linux.rootfsPropagation = prop;
  }
  if (r.has('timeOffsets')) {
    const offsets: Record<string, TimeOffset> = {};
    for (const [clock, v] of Object.entries(r.field('timeOffsets').object())) {
      if (clock !== 'monotonic' && clock !== 'boottime') {
        throw new ConfigError(`linux.timeOffsets.${clock}`, 'only monotonic and boottime can be offset');
      }
      const o = new JsonReader(v, `linux.timeOffsets.${clock}`);
      offsets[clock] = {
        secs: o.optInt('secs', -(2 ** 53), 2 ** 53) ?? 0,
        nanosecs: o.optInt('nanosecs', 0, 999_999_999) ?? 0,
      };
    }
    linux.timeOffsets = offsets;
  }
  for (const key of ['resources', 'seccomp', 'personality'] as const) {
    if (r.has(key)) linux[key] = r.field(key).object();
  }
  const mountLabel = r.optString('mountLabel');
  if (mountLabel !== undefined) linux.mountLabel = mountLabel;
  return linux;
}

function checkAbs(field: string, p: string): string {
  if (!p.startsWith('/')) throw new ConfigError(field, `must be an absolute path, got ${JSON.stringify(p)}`);
  return p;
}

function readHook(r: JsonReader): Hook {
  r.object();
  const h: Hook = { path: absolutePath(r.field('path')) };
  const args = r.optStringArray('args');
  if (args !== undefined) h.args = args;
  const env = r.optStringArray('env');
  if (env !== undefined) h.env = env;
  const timeout = r.optInt('timeout', 1, 2 ** 31);
  if (timeout !== undefined) h.timeout = timeout;
  return h;
}

function readHooks(r: JsonReader): Hooks {
  r.object();
  const hooks: Hooks = {};
  for (const k of ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const) {
    if (r.has(k)) hooks[k] = r.field(k).array().map(readHook);
  }
  return hooks;
}
