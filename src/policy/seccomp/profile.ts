// Validation of the OCI `linux.seccomp` object into a checked profile: every field is read with its
// full path, so an error names exactly what is wrong (`linux.seccomp.syscalls[3].args[0].op`).

import { JsonReader } from '../../spec/reader';
import { ConfigError } from '../../util/errors';
import {
  ACTIONS, ERRNO, FILTER_FLAGS, FOREIGN_ARCHES, MAX_ERRNO, OPERATORS, RET, RET_DATA_MASK, SUPPORTED_ARCHES,
  type ActionName, type Operator, type SupportedArch,
} from './constants';
import { knownOnAnyArch } from './tables';

export interface ArgCondition {
  index: number;
  value: bigint;
  valueTwo: bigint;
  op: Operator;
}

export interface SyscallRule {
  /** Where it came from, for messages: `linux.seccomp.syscalls[3]`. */
  field: string;
  names: string[];
  /** The SECCOMP_RET_* value, data included. */
  action: number;
  args: ArgCondition[];
}

export interface SeccompProfile {
  defaultAction: number;
  /** Always contains SCMP_ARCH_X86_64: like libseccomp, the native arch is in every filter. */
  arches: SupportedArch[];
  /** SECCOMP_FILTER_FLAG_* from `flags` (moat adds NEW_LISTENER itself). */
  flags: number;
  listenerPath?: string;
  listenerMetadata: string;
  rules: SyscallRule[];
}

const FIELD = 'linux.seccomp';
const SYSCALL_NAME = /^[a-z_][a-z0-9_]{0,63}$/;

function isPermissive(ret: number): boolean {
  return ret === RET.ALLOW || ret === RET.LOG;
}

/** The RET value of an action; errnoRet only where the action carries data (runtime-spec rule). */
function actionValue(r: JsonReader, errnoField: JsonReader): number {
  const name = r.string();
  if (!Object.prototype.hasOwnProperty.call(ACTIONS, name)) {
    r.reject(`unknown action ${JSON.stringify(name)} (one of ${Object.keys(ACTIONS).join(', ')})`);
  }
  const kind = ACTIONS[name as ActionName];
  const errno = errnoField.isPresent() ? errnoField : undefined;
  if (kind === 'ERRNO') return RET.ERRNO | (errno ? errno.int(0, MAX_ERRNO) : ERRNO.EPERM);
  // runc: the errno field is SCMP_ACT_TRACE's message to the tracer (default EPERM, as runc).
  if (kind === 'TRACE') return RET.TRACE | (errno ? errno.int(0, RET_DATA_MASK) : ERRNO.EPERM);
  if (errno) errno.reject(`only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno, not ${name}`);
  return RET[kind];
}

/** A u64 from JSON: above 2^53 JSON.parse has already rounded it, so it is refused, not guessed. */
function u64(r: JsonReader): bigint {
  return BigInt(r.int(0, Number.MAX_SAFE_INTEGER));
}

function readArg(r: JsonReader): ArgCondition {
  r.object();
  const op = r.field('op').string();
  if (!(OPERATORS as readonly string[]).includes(op)) {
    r.field('op').reject(`unknown operator ${JSON.stringify(op)} (one of ${OPERATORS.join(', ')})`);
  }
  const index = r.field('index').int(0, 5);
  const value = u64(r.field('value'));
  const two = r.field('valueTwo');
  const valueTwo = two.isPresent() ? u64(two) : 0n;
  if (two.isPresent() && op !== 'SCMP_CMP_MASKED_EQ' && valueTwo !== 0n) {
    two.reject(`only SCMP_CMP_MASKED_EQ uses valueTwo, not ${op}`);
  }
  return { index, value, valueTwo, op: op as Operator };
}

/**
 * Syscall names: a malformed name is an error. A well-formed name moat's tables do not know (another
 * architecture's syscall, one newer than the headers) is skipped like runc and libseccomp skip it,
 * except where skipping would fail open: a denying rule under an allowing default action.
 */
function readNames(r: JsonReader, action: number, defaultAction: number): string[] {
  const names = r.array().map((n) => {
    const name = n.string();
    if (!SYSCALL_NAME.test(name)) n.reject(`${JSON.stringify(name)} is not a syscall name`);
    if (!knownOnAnyArch(name) && !isPermissive(action) && isPermissive(defaultAction)) {
      n.reject(`unknown syscall ${JSON.stringify(name)}: skipping it would allow what this rule denies`);
    }
    return name;
  });
  if (names.length === 0) r.reject('must name at least one syscall');
  return names;
}

function readRule(r: JsonReader, defaultAction: number): SyscallRule {
  r.object();
  if (r.has('name') && !r.has('names')) r.field('name').reject('the runtime-spec field is "names" (an array)');
  const action = actionValue(r.field('action'), r.field('errnoRet'));
  if (action === RET.USER_NOTIF && r.field('names').isPresent()) {
    // moat's executor sends the listener fd with sendmsg after loading the filter (runc: write).
    for (const [i, n] of r.field('names').array().entries()) {
      if (n.value === 'sendmsg') throw new ConfigError(`${r.path}.names[${i}]`, 'SCMP_ACT_NOTIFY cannot be used for sendmsg (moat sends the listener fd with it)');
    }
  }
  const names = readNames(r.field('names'), action, defaultAction);
  const args = r.has('args') ? r.field('args').array().map(readArg) : [];
  return { field: r.path, names, action, args };
}

function readArches(r: JsonReader): SupportedArch[] {
  const arches = new Set<SupportedArch>(['SCMP_ARCH_X86_64']);
  if (!r.isPresent()) return [...arches];
  for (const a of r.array()) {
    const name = a.string();
    if ((SUPPORTED_ARCHES as readonly string[]).includes(name)) arches.add(name as SupportedArch);
    else if (!(FOREIGN_ARCHES as readonly string[]).includes(name)) a.reject(`unknown architecture ${JSON.stringify(name)}`);
  }
  return SUPPORTED_ARCHES.filter((a) => arches.has(a));
}

function readFlags(r: JsonReader): number {
  if (!r.isPresent()) return 0;
  let flags = 0;
  for (const f of r.array()) {
    const name = f.string();
    if (!Object.prototype.hasOwnProperty.call(FILTER_FLAGS, name)) {
      f.reject(`unknown flag ${JSON.stringify(name)} (one of ${Object.keys(FILTER_FLAGS).join(', ')})`);
    }
    flags |= FILTER_FLAGS[name as keyof typeof FILTER_FLAGS];
  }
  return flags;
}

export function readProfile(raw: unknown): SeccompProfile {
  const r = new JsonReader(raw, FIELD);
  r.object();
  const defaultAction = actionValue(r.field('defaultAction'), r.field('defaultErrnoRet'));
  if (defaultAction === RET.USER_NOTIF) {
    r.field('defaultAction').reject('SCMP_ACT_NOTIFY cannot be the default action (as in runc: moat itself must run after the filter is loaded)');
  }
  const rules = r.has('syscalls') ? r.field('syscalls').array().map((s) => readRule(s, defaultAction)) : [];
  const profile: SeccompProfile = {
    defaultAction,
    arches: readArches(r.field('architectures')),
    flags: readFlags(r.field('flags')),
    listenerMetadata: r.optString('listenerMetadata') ?? '',
    rules,
  };
  const listenerPath = r.optString('listenerPath');
  const notifies = rules.some((x) => x.action === RET.USER_NOTIF);
  // Without a SCMP_ACT_NOTIFY rule the listener fields are ignored (runtime-spec).
  if (notifies) {
    if (!listenerPath) throw new ConfigError(`${FIELD}.listenerPath`, 'required when a rule uses SCMP_ACT_NOTIFY');
    if (!listenerPath.startsWith('/')) throw new ConfigError(`${FIELD}.listenerPath`, 'must be an absolute path');
    profile.listenerPath = listenerPath;
  }
  return profile;
}
