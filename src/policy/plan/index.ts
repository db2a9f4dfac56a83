// Public surface of the native planner: pure functions from a Spec to an executor plan.
export { IDMAP_ATTR, planContainer, planNamespaces, sysctlPath } from './container';
export type { ContainerPlanInput, NamespacePlan, CgroupJoin } from './container';
export { encodePlan, describePlan, PLAN_MAGIC } from './ops';
export type { ExecutorPlan, ChildOp, ParentOp, AfterCloneOp } from './ops';
export { parseMountOptions, planMount } from './mounts';
export { planDevices, DEFAULT_DEVICES } from './devices';
export type { HostFacts, CgroupHierarchy, HostPathKind } from './facts';
export { CLONE, MS } from './constants';
