// Not a test: the owning process of test/sdk/owner-death.test.ts. It opens a sandbox per isolation
// named on the command line, starts a long process in each, prints `ready <root> <id>...` and
// waits to be killed.
import { Sandbox, type Isolation } from '../../src/sdk';

async function main(): Promise<void> {
  const [root, rootfs, ...isolations] = process.argv.slice(2);
  const boxes = await Promise.all(isolations.map((isolation) => Sandbox.create({ isolation: isolation as Isolation, rootfs: rootfs!, root: root! })));
  for (const b of boxes) void b.exec(['sleep', '1000']).result.catch(() => undefined);
  await new Promise((r) => setTimeout(r, 500));
  process.stdout.write(`ready ${boxes.map((b) => b.id).join(' ')}\n`);
  setInterval(() => undefined, 1 << 30);
}

main().catch((e) => {
  process.stderr.write(`owner: ${(e as Error).message}\n`);
  process.exit(1);
});
