// The compatibility matrix: every client operation runs once with runc and once with moat as the
// runtime (through the runc v2 shim), and where the client can, once with moat's own shim
// (`moat-shim`, runtime type io.containerd.moat.v2), in the same harness; each result is recorded in build/compat/<client>.json, from which
// scripts/compat.sh renders docs/compatibility.md.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { REPO } from '../../helpers/moat';

export type RuntimeName = 'runc' | 'moat' | 'moat-shim';
export const RUNTIMES: readonly RuntimeName[] = ['runc', 'moat'];

export interface CompatResult {
  client: string;
  op: string;
  runtime: RuntimeName;
  result: 'pass' | 'fail' | 'skip';
  error?: string;
}

export class Matrix {
  readonly results: CompatResult[] = [];
  /** Set when the client cannot run at all here: every case is then skipped with this reason. */
  unavailable: string | undefined;

  constructor(readonly client: string, readonly version: () => string) {}

  /** One test per runtime for `op`, run in the order declared. */
  case(op: string, fn: (rt: RuntimeName) => Promise<void> | void, runtimes: readonly RuntimeName[] = RUNTIMES): void {
    for (const rt of runtimes) {
      test(`${this.client}: ${op} [${rt}]`, async (t) => {
        if (this.unavailable !== undefined) {
          this.results.push({ client: this.client, op, runtime: rt, result: 'skip', error: this.unavailable });
          t.skip(this.unavailable);
          return;
        }
        try {
          await fn(rt);
          this.results.push({ client: this.client, op, runtime: rt, result: 'pass' });
        } catch (err) {
          this.results.push({ client: this.client, op, runtime: rt, result: 'fail', error: (err as Error).message.split('\n')[0]!.slice(0, 200) });
          throw err;
        }
      });
    }
  }

  /** build/compat/<client>.json */
  write(): void {
    const dir = path.join(REPO, 'build', 'compat');
    fs.mkdirSync(dir, { recursive: true });
    let version = '';
    try {
      version = this.version();
    } catch {
      version = 'unknown';
    }
    fs.writeFileSync(path.join(dir, `${this.client}.json`), JSON.stringify({ client: this.client, version, results: this.results }, null, 2) + '\n');
  }
}
