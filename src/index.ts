// Entry point of the bundled CLI (build/moat.js).
import { mark } from './util/profile';
import { main } from './cli/main';

mark('modules evaluated');

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`moat: internal error: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
