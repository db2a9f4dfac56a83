// Cgroups for the native platform, v1 or v2 as the host has them (decided at run time).
//   paths.ts      linux.cgroupsPath (absolute, relative, systemd slice:prefix:name) → cgroup path
//   layout.ts     host mounts → v1 hierarchies / cgroup2; /proc/self/cgroup
//   resources.ts  LinuxResources JSON → validated Resources
//   v1.ts, v2.ts  Resources → file writes (shares→weight and friends in v2.ts)
//   devices.ts    device rules: the kernel's v1 semantics, v1 writes
//   bpf.ts        device state → BPF_PROG_TYPE_CGROUP_DEVICE program (v2 and hybrid cgroup2)
//   plan.ts       all of the above → CgroupPlan (dirs, writes, device program, join ops)
//   stats.ts      stat files → runc's events "stats" data
//   limits.ts     limit files → the machine a container-aware view shows (memory, CPUs)
//   system.ts     the only file that touches /sys/fs/cgroup; setup.ts ties host facts to plans
export { cgroupLayout, parseProcCgroup, unifiedName, CGROUP_ROOT } from './layout';
export type { CgroupLayout, V1Hierarchy } from './layout';
export { resolveCgroupPath, parseCgroupsPath, systemdCgroupPath, expandSlice, hierarchyDir, DEFAULT_CGROUP_PARENT } from './paths';
export type { CgroupPath, CgroupPathInput } from './paths';
export { parseResources, UNLIMITED } from './resources';
export type { Resources, DeviceRule } from './resources';
export { v1Writes } from './v1';
export { v2Writes, sharesToWeight, weightToShares, blkioWeightToIoWeight, cpuMaxValue, swapMaxValue } from './v2';
export { containerDeviceRules, emulateDeviceRules, deviceAllowed, v1DeviceLine, ACCESS, DENY_ALL } from './devices';
export type { DeviceState, DeviceException } from './devices';
export { deviceProgram, encodeProgram, DEV_TYPE, OP } from './bpf';
export type { BpfInsn } from './bpf';
export { planCgroups, cgroupDirs, joinOps } from './plan';
export type { CgroupPlan, CgroupPlanInput, PlannedWrite } from './plan';
export type { ResourceWrite } from './writes';
export { collectStats, v2Stats, statsJson, parseU64, parseFlatKeyed, parseIoStatV2, parseBlkioV1 } from './stats';
export type { CgroupStats, CgroupFiles } from './stats';
export { prepareCgroups, createCgroups, updateCgroups, currentCgroupDirs } from './setup';
export type { CgroupRequest, PreparedCgroups } from './setup';
export { removeCgroups, cgroupPids, signalCgroup, setFrozen, hostCgroupFiles } from './system';
export { cgroupLimits, cpuListCount } from './limits';
export type { CgroupLimits } from './limits';
