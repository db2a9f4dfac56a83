// VMM drivers: the interface and the QEMU driver; acceleration selection.
export type { Accel, VmConfig, VmDisk, VmPort, VmmCommand, VmmDriver } from './types';
export { qemuDriver, QEMU_BINARY } from './qemu';
export { parseAccel, probeKvm, resolveAccel, type AccelChoice, type AccelVerdict } from './accel';
