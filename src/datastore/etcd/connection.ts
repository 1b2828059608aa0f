// One etcd3 client per store, tuned for a datastore that must notice outages and come back fast:
// no hidden retries (a retried transaction can report EXISTS or CONFLICT for a write that in
// fact succeeded; callers retry with fresh reads instead), a deadline on every unary call,
// short reconnect backoff, and keepalive pings that notice a hung server.
import type { Etcd3, IOptions } from 'etcd3';
import { etcd3, isEtcd3Error } from './etcd3.js';
import { TwillError, describeError } from '../../util/errors.js';
import { explainSecurityError } from './security-errors.js';
import { loadEtcdSecurity, type EtcdClientSecurity, type EtcdSecurityOptions } from './security.js';

export interface EtcdStoreOptions {
  /** `http://127.0.0.1:2379`, `unix:///abs/path/etcd.sock:0`, or several of them. */
  hosts: string | string[];
  /** Key prefix, starting and ending with '/'. Default `/twill/`. */
  prefix?: string;
  /** Deadline of each unary call. Default 5000 ms. */
  callTimeoutMs?: number;
  /** TLS files, etcd user, and whether plaintext to a non-loopback host is allowed. */
  security?: EtcdSecurityOptions;
}

type FaultPolicy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

// etcd3's fault handling is a cockatiel policy; this one runs each call once, as is.
const passThrough = {
  onSuccess: () => ({ dispose: () => {} }),
  onFailure: () => ({ dispose: () => {} }),
  execute: <T>(fn: (ctx: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal) =>
    Promise.resolve().then(() => fn({ signal: signal ?? new AbortController().signal })),
} as unknown as FaultPolicy;

export class EtcdConnection {
  readonly client: Etcd3;
  readonly endpoint: string;
  readonly callTimeoutMs: number;
  readonly security: EtcdClientSecurity;

  constructor(opts: EtcdStoreOptions) {
    const hosts = typeof opts.hosts === 'string' ? [opts.hosts] : opts.hosts;
    if (hosts.length === 0 || hosts.some((h) => !/^(https?:\/\/[^/]+|unix:\/\/\/.+)$/.test(h))) {
      throw new TwillError('CONFIG_INVALID', `etcd hosts ${JSON.stringify(hosts)}: each must be http(s)://HOST:PORT or unix:///path/to/socket`);
    }
    this.endpoint = hosts.join(',');
    this.callTimeoutMs = opts.callTimeoutMs ?? 5_000;
    const timeout = this.callTimeoutMs;
    this.security = loadEtcdSecurity(hosts, opts.security);
    const { credentials, auth } = this.security;
    if (this.security.tls) muteIpServernameWarning();
    this.client = newClient(this.endpoint, opts.security, {
      hosts,
      ...(credentials && { credentials }),
      ...(auth && { auth }),
      faultHandling: { host: () => passThrough, global: passThrough },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
      grpcOptions: {
        'grpc.use_local_subchannel_pool': 1,
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 2_000,
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
        'grpc.max_receive_message_length': 64 * 1024 * 1024,
      },
    });
  }

  /** Runs one etcd call, turning its failure into a TwillError that names the endpoint. */
  async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.error(what, e);
    }
  }

  error(what: string, e: unknown): TwillError {
    if (e instanceof TwillError) return e;
    const sec = explainSecurityError(e, this.security.options, this.security.tls);
    if (sec) return new TwillError('DATASTORE', `etcd at ${this.endpoint}: ${what} failed: ${sec.message}`, { cause: e, details: sec.problem });
    if (isEtcd3Error(e, 'GRPCDeadlineExceededError')) {
      return new TwillError('TIMEOUT', `etcd at ${this.endpoint}: ${what} got no answer within ${this.callTimeoutMs} ms; is etcd up?`, { cause: e });
    }
    if (isEtcd3Error(e, 'EtcdLeaseInvalidError')) {
      return new TwillError('DATASTORE', `etcd at ${this.endpoint}: ${what}: the lease is gone (expired or revoked); grant a new lease`, { cause: e });
    }
    return new TwillError('DATASTORE', `etcd at ${this.endpoint}: ${what} failed: ${describeError(e)}`, { cause: e });
  }

  /**
   * For a broken watch or keep-alive stream. etcd forgets its auth tokens when it restarts;
   * etcd3 fetches a new one when a unary call meets "invalid auth token", but a stream that
   * meets it would reopen with the stale token for ever. Drop the cached token so the next
   * stream authenticates again (no-op without a user).
   */
  streamFailed(e: unknown): void {
    if (!this.security.auth || !/invalid auth token/i.test(e instanceof Error ? e.message : String(e))) return;
    (this.client as unknown as { pool?: { authenticator?: { invalidateMetadata?: () => void } } }).pool?.authenticator?.invalidateMetadata?.();
  }

  close(): void {
    this.client.close();
  }
}

/** The client, with a TLS set-up failure (a key not matching its certificate) named by file. */
function newClient(endpoint: string, sec: EtcdSecurityOptions | undefined, options: IOptions): Etcd3 {
  try {
    return new (etcd3().Etcd3)(options);
  } catch (e) {
    const files = [sec?.certFile && `--etcd-cert-file ${sec.certFile}`, sec?.keyFile && `--etcd-key-file ${sec.keyFile}`, sec?.caFile && `--etcd-ca-file ${sec.caFile}`].filter(Boolean).join(', ');
    const code = (e as { code?: string }).code ?? '';
    const why = /KEY_VALUES_MISMATCH/.test(code) ? 'the key does not belong to the certificate' : describeError(e);
    throw new TwillError('CONFIG_INVALID', `etcd at ${endpoint}: cannot set up TLS with ${files || 'the system roots'}: ${why}; give the certificate and the key made with it`, { cause: e });
  }
}

let muted = false;
/**
 * grpc-js always sends the endpoint's host as TLS SNI, and Node warns (DEP0123) when that is an IP
 * address. etcd endpoints are usually IPs and the server certificate is still checked against the
 * IP in its subjectAltName, so the warning would only alarm operators reading the agent's log.
 * Only this one warning is dropped.
 */
function muteIpServernameWarning(): void {
  if (muted) return;
  muted = true;
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((...args: unknown[]) => {
    if (args[2] === 'DEP0123' || (typeof args[1] === 'object' && (args[1] as { code?: string } | null)?.code === 'DEP0123')) return;
    emit(...args);
  }) as typeof process.emitWarning;
}
