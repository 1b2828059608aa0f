// A minimal HTTP/1.1 exchange over the agent's unix socket, on node:net alone. node:http costs
// several milliseconds to load (~25 ms on a loaded machine), and every pod start pays for what
// the shim loads; one POST with Content-Length and `Connection: close` needs none of it.
import type * as net from 'node:net';
import { TwillError } from '../util/errors.js';

type NetModule = typeof net;

export interface RawReply {
  status: number;
  body: string;
}

/** Decodes a chunked body; undefined until the last chunk has arrived. */
function dechunk(body: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', pos);
    if (eol < 0) return undefined;
    const size = parseInt(body.subarray(pos, eol).toString('latin1'), 16);
    if (!Number.isInteger(size) || size < 0) throw new TwillError('INTERNAL', 'the agent sent a malformed chunked body');
    if (size === 0) return Buffer.concat(parts);
    if (body.length < eol + 2 + size + 2) return undefined;
    parts.push(body.subarray(eol + 2, eol + 2 + size));
    pos = eol + 2 + size + 2;
  }
}

/**
 * Parses an HTTP/1.1 response: status line, headers, and a body framed by Content-Length, by
 * chunked encoding, or by the connection closing (`closed`). Undefined while incomplete.
 */
export function parseHttpResponse(buf: Buffer, closed = false): RawReply | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '');
  if (!m) throw new TwillError('INTERNAL', `not an HTTP response: ${JSON.stringify((head[0] ?? '').slice(0, 80))}`);
  let length: number | undefined;
  let chunked = false;
  for (const h of head.slice(1)) {
    const i = h.indexOf(':');
    const name = h.slice(0, i).trim().toLowerCase();
    const value = h.slice(i + 1).trim().toLowerCase();
    if (name === 'content-length') length = Number(value);
    if (name === 'transfer-encoding' && value.includes('chunked')) chunked = true;
  }
  const raw = buf.subarray(end + 4);
  let body: Buffer | undefined;
  if (chunked) body = dechunk(raw);
  else if (length !== undefined && Number.isInteger(length) && length >= 0) body = raw.length >= length ? raw.subarray(0, length) : undefined;
  else body = closed ? raw : undefined;
  return body === undefined ? undefined : { status: Number(m[1]), body: body.toString('utf8') };
}

export interface PostOptions {
  socketPath: string;
  path: string;
  body: string;
  timeoutMs: number;
  maxBytes: number;
}

/** Resolves with the reply; rejects with the socket error (errno code kept) or a timeout. */
export async function postUnix(o: PostOptions): Promise<RawReply> {
  const { createConnection } = (process as unknown as { getBuiltinModule: (id: string) => NetModule }).getBuiltinModule('node:net');
  return new Promise<RawReply>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (e: unknown, r?: RawReply): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (r) resolve(r);
      else reject(e);
    };
    const sock = createConnection(o.socketPath);
    const timer = setTimeout(() => finish(Object.assign(new Error(`no answer within ${o.timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })), o.timeoutMs);
    sock.on('connect', () => {
      // write, not end: some servers close at once on a half-closed connection.
      sock.write(`POST ${o.path} HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(o.body)}\r\nConnection: close\r\n\r\n${o.body}`);
    });
    sock.on('data', (c: Buffer) => {
      size += c.length;
      if (size > o.maxBytes) return finish(new Error(`answer larger than ${o.maxBytes} bytes`));
      chunks.push(c);
      try {
        const r = parseHttpResponse(Buffer.concat(chunks));
        if (r) finish(undefined, r);
      } catch (e) {
        finish(e);
      }
    });
    sock.on('end', () => {
      let r: RawReply | undefined;
      try {
        r = parseHttpResponse(Buffer.concat(chunks), true);
      } catch (e) {
        return finish(e);
      }
      finish(Object.assign(new Error('connection closed before the answer was complete'), { code: 'ECONNRESET' }), r);
    });
    sock.on('error', (e) => finish(e));
  });
}
