// A synchronous sleep for the CLI's short polling loops (a process exiting, a fifo answering):
// the commands are synchronous by design, and this blocks without spinning.

const cell = new Int32Array(new SharedArrayBuffer(4));

export function sleepMs(ms: number): void {
  Atomics.wait(cell, 0, 0, ms);
}
