// The agent's HTTP API on a unix socket (mode 0600: only root may program pod networking).
// Handlers return JSON-able values; errors become {error:{code,message,details}} with a status.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { mkdir, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TwillError, describeError, isTwillError, type ErrorCode } from '../util/errors.js';
import type { Logger } from '../util/log.js';

export type Handler = (req: { body: unknown; query: URLSearchParams }) => Promise<unknown>;

const MAX_BODY = 2 * 1024 * 1024;

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  NOT_FOUND: 404,
  CONFIG_INVALID: 400,
  VALIDATION: 400,
  DECODE: 400,
  EXISTS: 409,
  CONFLICT: 409,
  TRY_AGAIN: 503,
  DATASTORE: 503,
};

export function errorBody(e: unknown): { code: ErrorCode; message: string; details?: string } {
  if (isTwillError(e)) return { code: e.code, message: describeError(e), ...(e.details ? { details: e.details } : {}) };
  return { code: 'INTERNAL', message: describeError(e) };
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new TwillError('DECODE', `request body larger than ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch (e) {
    throw new TwillError('DECODE', 'request body is not JSON', { cause: e });
  }
}

/** Is something answering on this unix socket? */
function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class ApiServer {
  private readonly routes = new Map<string, Handler>();
  private server: Server | undefined;

  constructor(private readonly log: Logger) {}

  route(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, h: Handler): this {
    this.routes.set(`${method} ${path}`, h);
    return this;
  }

  async listen(socketPath: string): Promise<void> {
    await mkdir(dirname(socketPath), { recursive: true, mode: 0o755 });
    // why: read-only: no socket file means there is nothing to probe or remove
    if (await stat(socketPath).catch(() => undefined)) {
      if (await socketAlive(socketPath)) {
        throw new TwillError('EXISTS', `another agent is already listening on ${socketPath}`, { details: 'stop it first, or pass --socket' });
      }
      await rm(socketPath, { force: true });
    }
    const server = createServer((req, res) => void this.dispatch(req, res));
    server.keepAliveTimeout = 5_000;
    const old = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(socketPath, () => resolve());
      });
    } finally {
      process.umask(old);
    }
    this.server = server;
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent');
    const h = this.routes.get(`${req.method ?? 'GET'} ${url.pathname}`);
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (!h) {
      send(404, { error: { code: 'NOT_FOUND', message: `no such endpoint: ${req.method} ${url.pathname}` } });
      return;
    }
    try {
      const body = await readBody(req);
      const out = await h({ body, query: url.searchParams });
      send(200, out ?? {});
    } catch (e) {
      const err = errorBody(e);
      if (err.code === 'INTERNAL') this.log.error('API handler failed', { path: url.pathname, error: err.message });
      send(HTTP_STATUS[err.code] ?? 500, { error: err });
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
