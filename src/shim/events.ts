// Task events for containerd, published as its runc shim did originally: `containerd --address A
// publish --topic T --namespace NS` with the event (a google.protobuf.Any) on stdin, one at a time
// and in order (a TaskExit never overtakes its TaskStart).

import { spawn } from 'node:child_process';
import { anyOf, encode, type Msg } from './proto';

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

export class Publisher {
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly binary: string, private readonly address: string, private readonly namespace: string, private readonly log: (line: string) => void) {}

  publish(event: keyof typeof TOPICS & string, value: Msg): void {
    const topic = TOPICS[event]!;
    const data = encode('google.protobuf.Any', anyOf(`containerd.events.${event}`, value));
    this.queue = this.queue.then(() => this.send(topic, data));
  }

  /** Resolves once every event published so far has been handed to containerd (or failed). */
  flushed(): Promise<void> {
    return this.queue;
  }

  private send(topic: string, data: Buffer): Promise<void> {
    if (!this.binary) return Promise.resolve();
    return new Promise((resolve) => {
      const child = spawn(this.binary, ['--address', this.address, 'publish', '--topic', topic, '--namespace', this.namespace], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(data);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('error', (e) => this.log(`publish ${topic}: ${e.message}`));
      child.once('close', (code) => {
        clearTimeout(timer);
        if (code !== 0) this.log(`publish ${topic}: exit ${code}: ${err.trim()}`);
        resolve();
      });
    });
  }
}
