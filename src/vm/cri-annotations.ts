// CRI's annotations on a container's spec (containerd's pkg/cri/annotations), apart from src/vm/pod.ts
// so that the shim's server reads them without loading the vm pod code (a native pod never needs it).

export const CRI_CONTAINER_TYPE = 'io.kubernetes.cri.container-type';
export const CRI_SANDBOX_ID = 'io.kubernetes.cri.sandbox-id';
/** The pod's resources as containerd (≥ 1.6.20) puts them on the sandbox: kubelet's sum of its containers' limits. */
export const CRI_SANDBOX_MEMORY = 'io.kubernetes.cri.sandbox-memory';
export const CRI_SANDBOX_CPU_QUOTA = 'io.kubernetes.cri.sandbox-cpu-quota';
export const CRI_SANDBOX_CPU_PERIOD = 'io.kubernetes.cri.sandbox-cpu-period';
