// The guest: kernel, modules and the initramfs holding the agent.
export { findGuestKernel, resolveModules, moduleName, GUEST_MODULES, type GuestKernel } from './kernel';
export { ensureInitramfs, initramfsEntries, type InitramfsInput } from './initramfs';
export { writeCpio, type CpioEntry } from './cpio';
