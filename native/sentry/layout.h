/*
 * Where the stub lives in every application address space: one page at STUB_BASE whose first
 * instructions are the gadget (`syscall; int3`) through which the sentry injects the few host
 * calls it makes in the stub. The one definition: stub.c and the addon's ptrace code include it,
 * the stub's link script gets it through --defsym (native/Makefile), and the sentry's TypeScript
 * (src/sentry/mm/layout.ts, STUB_BASE) is checked against it by the addon's `stubBase` at start-up.
 */
#ifndef MOAT_SENTRY_LAYOUT_H
#define MOAT_SENTRY_LAYOUT_H

#define STUB_BASE 0x7ff000000000ULL
/* The gadget is the first thing on the stub's page. */
#define GADGET_ADDR STUB_BASE
/* The instruction pointer a syscall issued from the gadget reports (after the 2-byte `syscall`). */
#define GADGET_RET (GADGET_ADDR + 2)

/*
 * Where every stub moves the host's vDSO and its data pages ([vvar], [vvar_vclock], [vdso], kept in
 * their order and distances) at start-up: above the stub's page, outside the application's
 * addresses (src/sentry/mm/layout.ts VDSO_BASE; src/sentry/platform/vdso.ts). At most VDSO_SPAN.
 */
#define VDSO_BASE (STUB_BASE + 0x100000ULL)
#define VDSO_SPAN 0x100000ULL

#endif
