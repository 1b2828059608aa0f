// The shim's process I/O. Synchronous reads and writes on fds 0/1/2 keep node:net (which
// process.stdin/stdout load for pipes) out of start-up; a non-blocking descriptor (EAGAIN) falls
// back to the streams, which handle it.
import { errnoCode } from '../util/errors.js';
import type { NodeFs } from './node-fs.js';
import type { TextSink } from './protocol.js';

export interface StdinRead {
  bytes: Uint8Array;
  error?: unknown;
}

async function readStream(chunks: Buffer[], total: number, limit: number): Promise<StdinRead> {
  for await (const c of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(c);
    total += c.length;
    if (total >= limit) break;
  }
  return { bytes: Buffer.concat(chunks).subarray(0, limit) };
}

/** Reads stdin up to `limit` bytes. A terminal (or /dev/null) counts as empty input. */
export async function readStdin(fs: NodeFs, limit: number): Promise<StdinRead> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    if (fs.fstatSync(0).isCharacterDevice()) return { bytes: new Uint8Array(0) };
    const buf = Buffer.allocUnsafe(64 * 1024);
    while (total < limit) {
      const n = fs.readSync(0, buf, 0, Math.min(buf.length, limit - total), null);
      if (n === 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
      total += n;
    }
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'EAGAIN') return readStream(chunks, total, limit).catch((err: unknown) => ({ bytes: new Uint8Array(0), error: err }));
    if (code === 'EBADF') return { bytes: new Uint8Array(0) }; // no stdin at all
    return { bytes: new Uint8Array(0), error: e };
  }
  return { bytes: Buffer.concat(chunks) };
}

/** A sink writing to a file descriptor (1 or 2). */
export function fdSink(fs: NodeFs, fd: 1 | 2): TextSink {
  return {
    write(s: string): void {
      let buf = Buffer.from(s, 'utf8');
      try {
        while (buf.length > 0) buf = buf.subarray(fs.writeSync(fd, buf));
      } catch (e) {
        if (errnoCode(e) !== 'EAGAIN') throw e;
        (fd === 1 ? process.stdout : process.stderr).write(buf);
      }
    },
  };
}
