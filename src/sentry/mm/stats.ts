// Counters of the bytes the memory manager copies (issue 14's measure of where start-up goes):
// private file pages read into memory files at mmap and exec, and private pages copied at fork.
// Written next to MOAT_SENTRY_CPU_PROF's profile (`<file>.mm.json`); counting costs an add.

export const mmStats = {
  /** Private file mappings (mmap of a file, MAP_PRIVATE): bytes read into the memory file. */
  mmapCopiedBytes: 0,
  mmapCopies: 0,
  /** Private file mappings served by reference (the file's page cache object, no copy). */
  mmapSharedBytes: 0,
  mmapShares: 0,
  /** exec's PT_LOAD segments: bytes read. */
  loaderCopiedBytes: 0,
  /** fork: bytes of private ranges copied (holes included in the count, not in the copy). */
  forkCopiedBytes: 0,
  forks: 0,
  /** Ranges of by-reference private pages made private (mprotect +W, a debugger's write). */
  cowBreaks: 0,
  cowBreakBytes: 0,
  /** Nanoseconds in the copies above (hrtime). */
  mmapCopyNs: 0,
  forkCopyNs: 0,
};

export function nowNs(): number {
  return Number(process.hrtime.bigint());
}
