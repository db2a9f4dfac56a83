// The devices cgroup: which device nodes the container may open or create. Pure.
//
// The container's rule list is: deny everything (moat always starts there, on v1 and v2 alike), the
// spec's linux.resources.devices in order, then allow the devices moat itself creates (the default
// /dev nodes, /dev/pts/*, /dev/ptmx and linux.devices) so a spec cannot lock its own /dev/null.
// The list is then evaluated exactly as the kernel's v1 devices cgroup applies writes to
// devices.allow / devices.deny (security/device_cgroup.c), which is also what runc emulates for v2:
//   * a type-`a` rule resets: allow → default allow, deny → default deny, exceptions cleared;
//   * in default-deny mode, allow adds an exception and deny removes access bits from exceptions
//     with the same type, major and minor (exact match: a deny of `c 1:*` does not punch a hole
//     into an allowed `c 1:3`);
//   * in default-allow mode it is the other way round.
// v1 writes the list itself; v2 gets an eBPF program compiled from the resulting state (bpf.ts).

import type { Device } from '../../spec/types';
import { DEFAULT_DEVICES } from '../plan/devices';
import type { DeviceRule } from './resources';
import type { ResourceWrite } from './writes';

export const ACCESS = { m: 1, r: 2, w: 4 } as const;
export const ALL_ACCESS = 7;

export interface DeviceException {
  type: 'c' | 'b';
  major: number;
  minor: number;
  /** Bits of ACCESS. */
  access: number;
}

export interface DeviceState {
  defaultAllow: boolean;
  /** Denials in default-allow mode; grants in default-deny mode. */
  exceptions: DeviceException[];
}

export function accessBits(access: string): number {
  let bits = 0;
  for (const c of access) bits |= ACCESS[c as keyof typeof ACCESS] ?? 0;
  return bits;
}

/** Devices moat creates in every container (and linux.devices): always allowed, appended last. */
export function builtinDeviceRules(linuxDevices: readonly Device[]): DeviceRule[] {
  const rules: DeviceRule[] = [];
  const nodes = [...DEFAULT_DEVICES, ...linuxDevices];
  for (const d of nodes) {
    if (d.type === 'p' || d.major === undefined || d.minor === undefined) continue;
    rules.push({ allow: true, type: d.type === 'b' ? 'b' : 'c', major: d.major, minor: d.minor, access: 'rwm' });
  }
  rules.push({ allow: true, type: 'c', major: 136, minor: -1, access: 'rwm' }); // /dev/pts/*
  rules.push({ allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }); // /dev/ptmx
  return rules;
}

export const DENY_ALL: DeviceRule = { allow: false, type: 'a', major: -1, minor: -1, access: 'rwm' };

/** The full ordered list moat applies: deny all, the spec's rules, then the built-in allows. */
export function containerDeviceRules(specRules: readonly DeviceRule[], linuxDevices: readonly Device[]): DeviceRule[] {
  return [DENY_ALL, ...specRules, ...builtinDeviceRules(linuxDevices)];
}

function sameDevice(e: DeviceException, r: DeviceRule): boolean {
  return e.type === r.type && e.major === r.major && e.minor === r.minor;
}

function addException(state: DeviceState, r: DeviceRule & { type: 'c' | 'b' }): void {
  const bits = accessBits(r.access);
  const found = state.exceptions.find((e) => sameDevice(e, r));
  if (found) found.access |= bits;
  else state.exceptions.push({ type: r.type, major: r.major, minor: r.minor, access: bits });
}

function removeException(state: DeviceState, r: DeviceRule): void {
  const bits = accessBits(r.access);
  for (const e of state.exceptions) if (sameDevice(e, r)) e.access &= ~bits;
  state.exceptions = state.exceptions.filter((e) => e.access !== 0);
}

/** Apply rules in order to a cgroup that starts as the kernel's root does (allow all). */
export function emulateDeviceRules(rules: readonly DeviceRule[]): DeviceState {
  const state: DeviceState = { defaultAllow: true, exceptions: [] };
  for (const r of rules) {
    if (r.type === 'a') {
      state.defaultAllow = r.allow;
      state.exceptions = [];
    } else if (r.allow !== state.defaultAllow) {
      addException(state, r as DeviceRule & { type: 'c' | 'b' });
    } else {
      removeException(state, r);
    }
  }
  return state;
}

function matches(e: DeviceException, type: 'c' | 'b', major: number, minor: number): boolean {
  return e.type === type && (e.major === -1 || e.major === major) && (e.minor === -1 || e.minor === minor);
}

/** The kernel's check (devcgroup_legacy_check_permission): the reference the eBPF program must equal. */
export function deviceAllowed(state: DeviceState, type: 'c' | 'b', major: number, minor: number, access: number): boolean {
  if (state.defaultAllow) {
    return !state.exceptions.some((e) => matches(e, type, major, minor) && (e.access & access) !== 0);
  }
  return state.exceptions.some((e) => matches(e, type, major, minor) && (access & ~e.access) === 0);
}

/** One rule as devices.allow/devices.deny take it: `c 1:3 rwm`, `a`. */
export function v1DeviceLine(r: DeviceRule): string {
  if (r.type === 'a') return 'a';
  const n = (v: number) => (v === -1 ? '*' : String(v));
  return `${r.type} ${n(r.major)}:${n(r.minor)} ${r.access}`;
}

export function v1DeviceWrites(rules: readonly DeviceRule[], field: string): ResourceWrite[] {
  return rules.map((r) => ({
    controller: 'devices',
    file: r.allow ? 'devices.allow' : 'devices.deny',
    value: v1DeviceLine(r),
    field,
  }));
}
