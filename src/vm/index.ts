// The vm platform (docs/vm.md): vmm/ drivers, guest/ kernel + initramfs, channel/ host side.
export { VmPlatform, VM_MEMORY_MIB, VM_CPUS } from './platform';
export { guestCmdline } from './builder';
export { buildRootfsImage, imageSize } from './rootfs';
export { checkVmSpec, guestFacts, GUEST_ROOTFS, GUEST_START_FIFO } from './spec';
