// The vm platform (docs/vm.md): vmm/ drivers, guest/ kernel + initramfs, channel/ host side.
export { VmPlatform, guestCmdline, VM_MEMORY_MIB, VM_CPUS } from './platform';
export { buildRootfsImage, ensureBusyboxRootfs, imageSize } from './rootfs';
export { checkVmSpec, guestFacts, GUEST_ROOTFS, GUEST_START_FIFO } from './spec';
