// A minimal HTTP/1.1 exchange over the agent's unix socket. Every pod start pays for what the shim
// loads: node:http costs several milliseconds (~25 ms on a loaded machine), and even node:net with
// its stream machinery costs ~7 ms per exchange here (measured: 9.5 ms vs 2 ms from connect call
// to reply, on an idle 2-core VM). So the exchange runs on Node's own pipe handle
// (process.binding('pipe_wrap'), the object node:net wraps) and falls back to node:net when that
// binding is missing or does not look as expected. One POST with Content-Length and
// `Connection: close` needs no more than that.
import type * as net from 'node:net';
import type * as util from 'node:util';
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

/** Accumulates the reply bytes; says when a complete answer (or an error) is in. */
class ReplyCollector {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly maxBytes: number) {}

  /** A complete reply, an error to report, or undefined to keep reading. */
  add(chunk: Buffer): RawReply | Error | undefined {
    this.size += chunk.length;
    if (this.size > this.maxBytes) return new Error(`answer larger than ${this.maxBytes} bytes`);
    this.chunks.push(chunk);
    try {
      return parseHttpResponse(Buffer.concat(this.chunks));
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  }

  /** The peer closed: the reply if it is complete, else the error to report. */
  end(): RawReply | Error {
    try {
      const r = parseHttpResponse(Buffer.concat(this.chunks), true);
      if (r) return r;
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
    return Object.assign(new Error('connection closed before the answer was complete'), { code: 'ECONNRESET' });
  }
}

function request(o: PostOptions): string {
  return `POST ${o.path} HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(o.body)}\r\nConnection: close\r\n\r\n${o.body}`;
}

/**
 * The one way an exchange ends: the first outcome (reply, error or the timeout, which it arms)
 * closes the connection and settles the promise; later ones are ignored.
 */
function settleOnce(
  o: PostOptions,
  resolve: (r: RawReply) => void,
  reject: (e: Error) => void,
  close: () => void,
): { finish: (r: RawReply | Error) => void; isDone: () => boolean } {
  let done = false;
  const finish = (r: RawReply | Error): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    close();
    if (r instanceof Error) reject(r);
    else resolve(r);
  };
  const timer = setTimeout(
    () => finish(Object.assign(new Error(`no answer within ${o.timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })),
    o.timeoutMs,
  );
  return { finish, isDone: () => done };
}

/** The parts of Node's internal pipe and stream bindings the fast path uses (Node 18–22). */
interface PipeHandle {
  connect(req: object, path: string): number;
  writeUtf8String(req: object, s: string): number;
  readStart(): number;
  readStop(): number;
  close(cb?: () => void): void;
  /** Must always be a function: Node asserts (aborts the process) on anything else. */
  onread: (ab: ArrayBuffer | undefined) => void;
}
interface PipeBindings {
  newPipe(): PipeHandle;
  newConnectReq(): { oncomplete?: (status: number) => void };
  newWriteReq(handle: PipeHandle): { oncomplete?: (status: number) => void; async?: boolean };
  /** Bytes read (or a negative libuv error) and their offset, for the current onread call. */
  readState(): [nread: number, offset: number];
}

let bindings: PipeBindings | null | undefined;

/** Node's pipe bindings, or null when this Node does not offer them in the expected shape. */
export function pipeBindings(): PipeBindings | null {
  if (bindings !== undefined) return bindings;
  bindings = null;
  try {
    const binding = (process as unknown as { binding?: (name: string) => Record<string, unknown> }).binding;
    if (typeof binding !== 'function') return null;
    const pw = binding.call(process, 'pipe_wrap') as {
      Pipe?: new (type: number) => PipeHandle;
      PipeConnectWrap?: new () => object;
      constants?: { SOCKET?: number };
    };
    const sw = binding.call(process, 'stream_wrap') as {
      WriteWrap?: new () => { oncomplete?: (status: number) => void; async?: boolean; handle?: PipeHandle };
      streamBaseState?: Int32Array;
      kReadBytesOrError?: number;
      kArrayBufferOffset?: number;
    };
    const { Pipe, PipeConnectWrap, constants } = pw;
    const { WriteWrap, streamBaseState: state, kReadBytesOrError: kRead, kArrayBufferOffset: kOffset } = sw;
    if (typeof Pipe !== 'function' || typeof PipeConnectWrap !== 'function' || typeof WriteWrap !== 'function') return null;
    if (typeof constants?.SOCKET !== 'number' || !(state instanceof Int32Array) || typeof kRead !== 'number' || typeof kOffset !== 'number') return null;
    const probe = new Pipe(constants.SOCKET);
    const ok = ['connect', 'writeUtf8String', 'readStart', 'readStop', 'close'].every((m) => typeof (probe as unknown as Record<string, unknown>)[m] === 'function');
    probe.close();
    if (!ok) return null;
    const socketType = constants.SOCKET;
    bindings = {
      newPipe: () => new Pipe(socketType),
      newConnectReq: () => new PipeConnectWrap(),
      newWriteReq: (handle) => {
        const req = new WriteWrap();
        req.handle = handle;
        return req;
      },
      readState: () => [state[kRead] ?? 0, state[kOffset] ?? 0],
    };
  } catch {
    // why: no pipe_wrap binding in this runtime: the node:net fallback is used
    bindings = null;
  }
  return bindings ?? null;
}

/** libuv's error number as an Error with the usual `code` (ENOENT, ECONNREFUSED, …). */
function uvError(status: number, what: string): Error {
  let code = `E${-status}`;
  try {
    code = (process as unknown as { getBuiltinModule: (id: string) => typeof util }).getBuiltinModule('node:util').getSystemErrorName(status);
  } catch {
    // why: keep the number
  }
  return Object.assign(new Error(`${what}: ${code}`), { code, errno: status });
}

/** The exchange on a bare pipe handle: connect, write, read until the reply is complete. */
function postViaPipeHandle(b: PipeBindings, o: PostOptions): Promise<RawReply> {
  return new Promise<RawReply>((resolve, reject) => {
    const pipe = b.newPipe();
    const reply = new ReplyCollector(o.maxBytes);
    const { finish, isDone } = settleOnce(o, resolve, reject, () => {
      pipe.onread = () => undefined;
      pipe.close();
    });
    const onRead = (ab: ArrayBuffer | undefined): void => {
      const [nread, offset] = b.readState();
      if (nread === 0) return;
      if (nread < 0) {
        // UV_EOF is the peer closing; anything else is a read error.
        finish(nread === -4095 ? reply.end() : uvError(nread, 'read from the agent socket'));
        return;
      }
      if (!ab) return;
      const r = reply.add(Buffer.from(ab, offset, nread));
      if (r) finish(r);
    };
    const connectReq = b.newConnectReq();
    connectReq.oncomplete = (status: number) => {
      if (isDone()) return;
      if (status < 0) return finish(uvError(status, `connect ${o.socketPath}`));
      const writeReq = b.newWriteReq(pipe);
      // The write completes on its own; a failed one shows up as a read error or EOF.
      writeReq.oncomplete = () => undefined;
      const werr = pipe.writeUtf8String(writeReq, request(o));
      if (werr < 0) return finish(uvError(werr, 'write to the agent socket'));
      pipe.onread = onRead;
      const rerr = pipe.readStart();
      if (rerr < 0) finish(uvError(rerr, 'read from the agent socket'));
    };
    const cerr = pipe.connect(connectReq, o.socketPath);
    if (cerr < 0) finish(uvError(cerr, `connect ${o.socketPath}`));
  });
}

/** The same exchange on node:net (the fallback). */
function postViaNet(o: PostOptions): Promise<RawReply> {
  const { createConnection } = (process as unknown as { getBuiltinModule: (id: string) => NetModule }).getBuiltinModule('node:net');
  return new Promise<RawReply>((resolve, reject) => {
    const reply = new ReplyCollector(o.maxBytes);
    const sock = createConnection(o.socketPath);
    const { finish } = settleOnce(o, resolve, reject, () => sock.destroy());
    // write, not end: some servers close at once on a half-closed connection.
    sock.on('connect', () => sock.write(request(o)));
    sock.on('data', (c: Buffer) => {
      const r = reply.add(c);
      if (r) finish(r);
    });
    sock.on('end', () => finish(reply.end()));
    sock.on('error', (e) => finish(e));
  });
}

export type Transport = 'pipe' | 'net';

/**
 * Resolves with the reply; rejects with the socket error (errno `code` kept) or a timeout.
 * `transport` forces one path (tests); by default the pipe handle when available, else node:net.
 */
export function postUnix(o: PostOptions, transport?: Transport): Promise<RawReply> {
  const b = transport === 'net' ? null : pipeBindings();
  if (transport === 'pipe' && !b) return Promise.reject(new Error("this Node has no usable process.binding('pipe_wrap')"));
  return b ? postViaPipeHandle(b, o) : postViaNet(o);
}
