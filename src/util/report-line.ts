// The one line a helper process reports on a pipe before it goes on (the executor's `pid N` or
// `error …`, an exec relay's `ok` or `error …`): the first line, or — when the pipe ends without
// one — what `missing` says once the process has exited.

import type { Readable } from 'node:stream';

export function readReportLine(stream: Readable, exited: Promise<number>, missing: (status: number) => string): Promise<string> {
  return new Promise((resolve) => {
    let buf = '';
    const onData = (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        stream.off('data', onData);
        stream.destroy();
        resolve(buf.slice(0, nl));
      }
    };
    stream.on('data', onData);
    stream.on('error', () => undefined);
    stream.once('end', () => {
      if (!buf.includes('\n')) void exited.then((code) => resolve(missing(code)));
    });
  });
}
