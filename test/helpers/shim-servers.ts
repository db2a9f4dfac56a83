// The shim servers (`… serve`) of one containerd address, found by their command lines.
import * as fs from 'node:fs';

/** Pids of the servers whose command line names this containerd address. */
export const shimServersOf = (address: string): string[] =>
  fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      const args = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      return args.includes('serve') && args.includes(address);
    } catch {
      return false;
    }
  });
