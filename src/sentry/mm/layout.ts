// Where things live in an application's address space. The stub's gadget page sits at STUB_BASE
// (native/sentry/stub.ld); nothing the application asks for may reach it.

export const PAGE = 4096;
/** The lowest address an application may map (Linux's default vm.mmap_min_addr). */
export const MIN_ADDR = 0x10000;
/** The stub's page: the application's addresses end below it. */
export const STUB_BASE = 0x7ff0_0000_0000;
export const APP_LIMIT = STUB_BASE;
/**
 * The host's vDSO and its data pages, moved there by every stub (native/sentry/layout.h VDSO_BASE,
 * VDSO_SPAN; src/sentry/platform/vdso.ts): above the stub's page, beyond the application's reach.
 */
export const VDSO_BASE = STUB_BASE + 0x10_0000;
export const VDSO_SPAN = 0x10_0000;
/** The initial stack: [STACK_TOP - STACK_SIZE, STACK_TOP). */
export const STACK_TOP = 0x7fe0_0000_0000;
export const STACK_SIZE = 8 * 1024 * 1024;
/** mmap without a hint is placed top-down from here. */
export const MMAP_TOP = 0x7fd0_0000_0000;
/** Where a position-independent executable is loaded (Linux's ELF_ET_DYN_BASE). */
export const PIE_BASE = 0x5555_5555_4000;
/** Memory file size per address space: sparse, pages exist only once touched. */
export const MEMORY_FILE_SIZE = 0xc000_0000;

export function pageDown(a: number): number {
  return a - (a % PAGE);
}

export function pageUp(a: number): number {
  const r = a % PAGE;
  return r === 0 ? a : a + PAGE - r;
}
