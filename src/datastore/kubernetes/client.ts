// A small kube-apiserver client on node:https: keep-alive connections, JSON in and out (gzip for
// large lists), streamed watch bodies split into lines with a bounded buffer, and errors mapped to
// TwillError codes with a message that says what to do. A heavy npm client would cost the agent
// memory it has to spend on 30,000 pods.
import { readFile } from 'node:fs/promises';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createSecureContext } from 'node:tls';
import { pipeline } from 'node:stream';
import { createGunzip, gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { TwillError, describeError, type ErrorCode } from '../../util/errors.js';
import type { ClusterAccess } from './access.js';
import { ListScanner } from './list-stream.js';
import { PROTOBUF_TYPE, type ListMeta } from './proto/lists.js';
import { decodeStatus } from './proto/status.js';

const gunzipAsync = promisify(gunzip);
const TOKEN_REREAD_MS = 60_000;
/** A watch line longer than this is a broken stream, not an object we can hold. */
export const MAX_LINE_BYTES = 16 << 20;

export interface ApiStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; kind?: string; group?: string };
}

/** A failed request: the HTTP status and the apiserver's Status object when it sent one. */
export class ApiError extends TwillError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly httpStatus: number,
    readonly status: ApiStatus | undefined,
  ) {
    super(code, message);
  }
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
  /** What the request was for, in messages: "listing pods". */
  what: string;
}

export interface Traffic {
  /** Response body bytes received (as sent on the wire, before gunzip). */
  bytesIn: number;
  requests: number;
  /** List pages answered in protobuf (proto/lists.ts). */
  protobufPages: number;
}

export class KubeClient {
  private readonly agent: HttpAgent;
  private readonly tls: boolean;
  private readonly host: string;
  private readonly port: number;
  private token: string | undefined;
  private tokenReadAt = 0;
  readonly traffic: Traffic = { bytesIn: 0, requests: 0, protobufPages: 0 };
  /** What answers to requests and lists may be encoded as (gzip unless the kubeconfig says not). */
  private readonly encoding: Record<string, string>;

  constructor(readonly access: ClusterAccess) {
    const url = new URL(access.server);
    this.tls = url.protocol === 'https:';
    this.host = url.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(url.port || (this.tls ? 443 : 80));
    const opts = { keepAlive: true, keepAliveMsecs: 10_000, maxFreeSockets: 4 };
    // One TLS context for every connection (each would otherwise parse the CA, certificate and key
    // again: ~25 ms apiece, paid by every list at start-up).
    this.agent = this.tls
      ? new HttpsAgent({ ...opts, secureContext: createSecureContext({ ca: access.ca, cert: access.cert, key: access.key }), rejectUnauthorized: access.insecureSkipVerify !== true })
      : new HttpAgent(opts);
    this.token = access.token;
    this.encoding = access.disableCompression ? {} : { 'accept-encoding': 'gzip' };
  }

  get server(): string {
    return this.access.server;
  }

  close(): void {
    this.agent.destroy();
  }

  private async authHeader(): Promise<Record<string, string>> {
    if (this.access.tokenFile && Date.now() - this.tokenReadAt > TOKEN_REREAD_MS) {
      try {
        this.token = (await readFile(this.access.tokenFile, 'utf8')).trim();
        this.tokenReadAt = Date.now();
      } catch (e) {
        if (this.token === undefined) throw new TwillError('DATASTORE', `cannot read the token ${this.access.tokenFile}: ${describeError(e)}`, { cause: e });
      }
    }
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  /** Opens a request and resolves with the response head (body unread). */
  async open(path: string, o: RequestOptions, extraHeaders: Record<string, string> = {}): Promise<IncomingMessage> {
    const body = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
    const headers: Record<string, string> = { accept: 'application/json', ...(await this.authHeader()), ...extraHeaders };
    if (body) {
      headers['content-type'] = o.contentType ?? 'application/json';
      headers['content-length'] = String(body.length);
    }
    const req = (this.tls ? httpsRequest : httpRequest)({ host: this.host, port: this.port, path, method: o.method ?? 'GET', headers, agent: this.agent });
    this.traffic.requests++;
    return await new Promise<IncomingMessage>((resolve, reject) => {
      const timer = o.timeoutMs === undefined ? undefined : setTimeout(() => req.destroy(new TwillError('TIMEOUT', `${o.what}: kube-apiserver ${this.server} did not answer within ${o.timeoutMs} ms`)), o.timeoutMs);
      req.on('response', (res) => {
        if (timer) clearTimeout(timer);
        resolve(res);
      });
      req.on('error', (e) => {
        if (timer) clearTimeout(timer);
        reject(e instanceof TwillError ? e : new TwillError('DATASTORE', `${o.what}: cannot reach kube-apiserver at ${this.server}: ${describeError(e)}`, { cause: e }));
      });
      req.end(body);
    });
  }

  /** A request whose answer is not JSON (/readyz): resolves with the HTTP status, body discarded. */
  async probe(path: string, o: RequestOptions): Promise<number> {
    const res = await this.open(path, { timeoutMs: 5_000, ...o });
    const body = await readAll(res);
    this.traffic.bytesIn += body.length;
    return res.statusCode ?? 0;
  }

  /** A complete request: parsed JSON body, or an ApiError for any non-2xx answer. */
  async request<T = unknown>(path: string, o: RequestOptions): Promise<T> {
    const res = await this.open(path, { timeoutMs: 30_000, ...o }, this.encoding);
    let raw: Buffer;
    try {
      raw = await readAll(res);
      this.traffic.bytesIn += raw.length;
      if (res.headers['content-encoding'] === 'gzip') raw = await gunzipAsync(raw);
    } catch (e) {
      throw new TwillError('DATASTORE', `${o.what}: the answer from ${this.server} broke off: ${describeError(e)}`, { cause: e });
    }
    const code = res.statusCode ?? 0;
    let parsed: unknown;
    try {
      parsed = raw.length === 0 ? undefined : JSON.parse(raw.toString('utf8'));
    } catch {
      // why: a body that is not JSON is reported below with the status code
      parsed = undefined;
    }
    if (code >= 200 && code < 300) {
      if (parsed === undefined && raw.length > 0) throw new TwillError('DECODE', `${o.what}: kube-apiserver sent a body that is not JSON`);
      return parsed as T;
    }
    throw apiError(code, parsed as ApiStatus | undefined, o.what, this.server, raw);
  }

  /**
   * A list request read as it streams in: `onItem` gets each element of `items`, parsed, in order
   * (list-stream.ts says why); resolves with the rest of the answer (kind, metadata).
   */
  async requestList<T = unknown>(path: string, o: RequestOptions, onItem: (item: T) => void, protobuf?: (body: Buffer) => ListMeta): Promise<{ metadata?: ListMeta }> {
    // Protobuf first when the caller can read it; JSON from a server (an aggregated API) that cannot.
    const headers = protobuf ? { ...this.encoding, accept: `${PROTOBUF_TYPE}, application/json` } : this.encoding;
    const res = await this.open(path, { timeoutMs: 30_000, ...o }, headers);
    const code = res.statusCode ?? 0;
    const isProto = res.headers['content-type']?.startsWith(PROTOBUF_TYPE) === true;
    if (code < 200 || code >= 300) {
      // An error answer is small: read it whole, as request() does.
      let raw = await readAll(res);
      this.traffic.bytesIn += raw.length;
      // why: an error body that does not gunzip is still reported, raw, with its status code
      if (res.headers['content-encoding'] === 'gzip') raw = await gunzipAsync(raw).catch(() => raw);
      let st: ApiStatus | undefined;
      try {
        st = isProto ? decodeStatus(raw) : (JSON.parse(raw.toString('utf8')) as ApiStatus);
      } catch {
        // why: a body that is not JSON is reported with the status code
        st = undefined;
      }
      throw apiError(code, st, o.what, this.server, isProto ? undefined : raw);
    }
    if (protobuf && isProto) return { metadata: await this.readProtobuf(res, o, protobuf) };
    let failure: unknown;
    const scanner = new ListScanner((text) => {
      if (failure !== undefined) return;
      try {
        onItem(JSON.parse(text) as T);
      } catch (e) {
        failure = e;
      }
    });
    try {
      const gzip = res.headers['content-encoding'] === 'gzip';
      let body: AsyncIterable<unknown> = res;
      if (gzip) {
        res.on('data', (c: Buffer) => (this.traffic.bytesIn += c.length));
        // why: pipeline hands a failure of either stream to the gunzip stream, which the loop reads
        body = pipeline(res, createGunzip({ chunkSize: 256 * 1024 }), () => undefined);
      }
      for await (const c of body) {
        if (!gzip) this.traffic.bytesIn += (c as Buffer).length;
        scanner.push(c as Buffer);
      }
      if (!res.complete) throw new Error('the connection closed before the answer was complete');
      if (failure !== undefined) throw failure;
      return scanner.end();
    } catch (e) {
      res.destroy();
      if (e instanceof SyntaxError) throw new TwillError('DECODE', `${o.what}: kube-apiserver sent a list that is not JSON: ${e.message}`, { cause: e });
      if (e instanceof TwillError) throw e;
      throw new TwillError('DATASTORE', `${o.what}: the answer from ${this.server} broke off: ${describeError(e)}`, { cause: e });
    }
  }

  /**
   * A protobuf page, read whole (its items are length-prefixed: nothing to decode before the
   * end), gunzipped, and handed to `decode`.
   */
  private async readProtobuf(res: IncomingMessage, o: RequestOptions, decode: (body: Buffer) => ListMeta): Promise<ListMeta> {
    let body: Buffer;
    try {
      body = await readAll(res);
      this.traffic.bytesIn += body.length;
      if (!res.complete) throw new Error('the connection closed before the answer was complete');
      if (res.headers['content-encoding'] === 'gzip') body = await gunzipAsync(body, { chunkSize: 256 * 1024 });
    } catch (e) {
      res.destroy();
      throw new TwillError('DATASTORE', `${o.what}: the answer from ${this.server} broke off: ${describeError(e)}`, { cause: e });
    }
    this.traffic.protobufPages++;
    try {
      return decode(body);
    } catch (e) {
      if (e instanceof TwillError) throw new TwillError(e.code, `${o.what}: ${e.message}`, { cause: e });
      throw new TwillError('DECODE', `${o.what}: kube-apiserver sent a protobuf list this agent cannot read: ${describeError(e)}`, { cause: e });
    }
  }
}

async function readAll(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Maps an apiserver answer to a TwillError whose message says what to do. */
export function apiError(code: number, st: ApiStatus | undefined, what: string, server: string, raw?: Buffer): ApiError {
  const msg = st?.message ?? (raw ? raw.toString('utf8').slice(0, 200) : '');
  const at = `kube-apiserver ${server}`;
  switch (code) {
    case 401:
      return new ApiError('DATASTORE', `${what}: ${at} rejected our credentials (401 Unauthorized: expired or wrong token or client certificate); check --kubeconfig or the agent's service-account token`, code, st);
    case 403:
      return new ApiError('DATASTORE', `${what}: ${at} forbids it (403): ${msg}. The agent's ClusterRole/Role lack this verb and resource: apply deploy/twill.yaml (rules in src/datastore/kubernetes/rbac.ts)`, code, st);
    case 404:
      // An object that is not there comes with a Status naming it; a resource the server does not
      // serve at all gets a bare "404 page not found".
      if (st?.details?.name === undefined && /twill\.dev/.test(what)) {
        return new ApiError('DATASTORE', `${what}: ${at} does not serve Twill's kinds (404): the CRDs are not installed; apply deploy/twill.yaml`, code, st);
      }
      return new ApiError('NOT_FOUND', `${what}: not found (${msg})`, code, st);
    case 409:
      return new ApiError(st?.reason === 'AlreadyExists' ? 'EXISTS' : 'CONFLICT', `${what}: ${msg}`, code, st);
    case 410:
      return new ApiError('DATASTORE', `${what}: resourceVersion too old (410 Gone): ${msg}`, code, st);
    case 400:
    case 422:
      return new ApiError('VALIDATION', `${what}: ${at} refused the object: ${msg}`, code, st);
    case 429:
      return new ApiError('TRY_AGAIN', `${what}: ${at} is throttling (429); retry later`, code, st);
    default:
      return new ApiError('DATASTORE', `${what}: ${at} answered ${code}: ${msg}`, code, st);
  }
}

/**
 * Calls `onLine` for each newline-terminated line of a streamed body. A line over `maxBytes`
 * destroys the stream with an error (a broken or hostile server must not grow our memory).
 */
export function splitLines(res: IncomingMessage, onLine: (line: string) => void, maxBytes = MAX_LINE_BYTES, traffic?: Traffic): Promise<void> {
  return new Promise((resolve, reject) => {
    let parts: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      if (traffic) traffic.bytesIn += chunk.length;
      let start = 0;
      for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
        parts.push(chunk.subarray(start, nl));
        const line = Buffer.concat(parts).toString('utf8');
        parts = [];
        size = 0;
        start = nl + 1;
        if (line.trim() !== '') onLine(line);
      }
      if (start < chunk.length) {
        size += chunk.length - start;
        if (size > maxBytes) {
          res.destroy(new TwillError('DATASTORE', `a watch event is larger than ${maxBytes} bytes; reconnecting`));
          return;
        }
        parts.push(chunk.subarray(start));
      }
    });
    res.on('end', () => resolve());
    res.on('error', reject);
    res.on('close', () => resolve());
  });
}
