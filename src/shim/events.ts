// Task events for containerd, one at a time and in order (a TaskExit never overtakes its
// TaskStart). As containerd's runc shim does since 1.5: over ttrpc to containerd's Events service
// (`containerd.services.events.ttrpc.v1.Events/Forward`) on the socket containerd names in the
// shim's TTRPC_ADDRESS, one connection for the server's life. Where there is no TTRPC_ADDRESS, or
// the call fails (containerd restarting), the event goes the original way instead:
// `<publish-binary> --address A publish --topic T --namespace NS` with the event (a
// google.protobuf.Any) on stdin — a process per event.

import { spawn } from 'node:child_process';
import { anyOf, encode, timestamp, type Msg } from './proto';
import { TtrpcClient } from './ttrpc/client';

export const TOPICS: Record<string, string> = {
  TaskCreate: '/tasks/create',
  TaskStart: '/tasks/start',
  TaskExit: '/tasks/exit',
  TaskDelete: '/tasks/delete',
  TaskOOM: '/tasks/oom',
  TaskExecAdded: '/tasks/exec-added',
  TaskExecStarted: '/tasks/exec-started',
  TaskPaused: '/tasks/paused',
  TaskResumed: '/tasks/resumed',
};

const EVENTS_SERVICE = 'containerd.services.events.ttrpc.v1.Events';
/** One event's hand-over, either way: past it the event is logged as lost and the next one goes. */
const SEND_TIMEOUT_MS = 10_000;

export class Publisher {
  private queue: Promise<void> = Promise.resolve();
  private client: TtrpcClient | undefined;

  constructor(
    private readonly binary: string,
    private readonly address: string,
    private readonly namespace: string,
    private readonly log: (line: string) => void,
    /** containerd's ttrpc socket (TTRPC_ADDRESS, as containerd gives it to its shims); '' for none. */
    private readonly ttrpcAddress = process.env.TTRPC_ADDRESS ?? '',
  ) {}

  publish(event: keyof typeof TOPICS & string, value: Msg): void {
    const topic = TOPICS[event]!;
    const any = anyOf(`containerd.events.${event}`, value);
    const at = new Date();
    this.queue = this.queue.then(() => this.send(topic, any, at));
  }

  /** Resolves once every event published so far has been handed to containerd (or failed). */
  flushed(): Promise<void> {
    return this.queue;
  }

  /** The ttrpc connection is closed (the server exits once its events are flushed). */
  close(): void {
    this.client?.close();
    this.client = undefined;
  }

  private async send(topic: string, any: Msg, at: Date): Promise<void> {
    // Twice over ttrpc (a connection containerd dropped is made again), then the binary.
    for (let attempt = 0; this.ttrpcAddress && attempt < 2; attempt++) {
      try {
        await this.forward(topic, any, at);
        return;
      } catch (err) {
        this.close();
        this.log(`publish ${topic} over ttrpc (${this.ttrpcAddress}): ${(err as Error).message}${attempt ? `; through ${this.binary || 'no publish binary'} instead` : '; again'}`);
      }
    }
    await this.spawnPublish(topic, encode('google.protobuf.Any', any));
  }

  private async forward(topic: string, any: Msg, at: Date): Promise<void> {
    const path = this.ttrpcAddress.startsWith('unix://') ? this.ttrpcAddress.slice('unix://'.length) : this.ttrpcAddress;
    if (!this.client?.open) this.client = await TtrpcClient.connect(path, SEND_TIMEOUT_MS);
    const client = this.client;
    const req = encode('containerd.services.events.ttrpc.v1.ForwardRequest', { envelope: { timestamp: timestamp(at), namespace: this.namespace, topic, event: any } });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.call(EVENTS_SERVICE, 'Forward', req),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${SEND_TIMEOUT_MS / 1000} s`)), SEND_TIMEOUT_MS);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private spawnPublish(topic: string, data: Buffer): Promise<void> {
    if (!this.binary) return Promise.resolve();
    return new Promise((resolve) => {
      const child = spawn(this.binary, ['--address', this.address, 'publish', '--topic', topic, '--namespace', this.namespace], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(data);
      const timer = setTimeout(() => child.kill('SIGKILL'), SEND_TIMEOUT_MS);
      child.once('error', (e) => this.log(`publish ${topic}: ${e.message}`));
      child.once('close', (code) => {
        clearTimeout(timer);
        if (code !== 0) this.log(`publish ${topic}: exit ${code}: ${err.trim()}`);
        resolve();
      });
    });
  }
}
