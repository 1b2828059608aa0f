// Just enough of the Kubernetes API for the agent to watch its own DaemonSet and namespace: GET and
// a line-delimited watch stream, with the pod's ServiceAccount credentials (re-read per request:
// the kubelet rotates the projected token). Twill's datastore has its own, fuller client.
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { TwillError } from '../../util/errors.js';

export interface KubeApiOptions {
  /** https://HOST:PORT (or http:// for a test apiserver on loopback). */
  server: string;
  tokenFile?: string | undefined;
  caFile?: string | undefined;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The in-cluster API endpoint and credentials a pod gets from the kubelet. */
export function inClusterOptions(env: NodeJS.ProcessEnv = process.env): KubeApiOptions {
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'] ?? '443';
  if (!host) {
    throw new TwillError('CONFIG_INVALID', 'not running in a Kubernetes pod: KUBERNETES_SERVICE_HOST is not set', {
      details: '--owner-daemonset is for the agent inside the DaemonSet it names',
    });
  }
  return { server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`, tokenFile: `${SA_DIR}/token`, caFile: `${SA_DIR}/ca.crt` };
}

export class KubeStatusError extends TwillError {
  constructor(readonly status: number, path: string, body: string) {
    super('DATASTORE', `kube-apiserver answered ${status} to GET ${path}: ${body.slice(0, 200)}`);
  }
}

export class KubeApi {
  constructor(private readonly opts: KubeApiOptions) {}

  private open(path: string, timeoutMs: number | undefined): Promise<IncomingMessage> {
    const url = new URL(path, this.opts.server);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.opts.tokenFile) headers['authorization'] = `Bearer ${readFileSync(this.opts.tokenFile, 'utf8').trim()}`;
    const ca = this.opts.caFile ? readFileSync(this.opts.caFile) : undefined;
    return new Promise((resolve, reject) => {
      const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method: 'GET', headers, ...(ca ? { ca } : {}) }, resolve);
      req.on('error', (e) => reject(new TwillError('DATASTORE', `cannot reach kube-apiserver at ${this.opts.server}`, { cause: e })));
      if (timeoutMs !== undefined) req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
      req.end();
    });
  }

  private static async body(res: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  async get<T>(path: string, timeoutMs = 5000): Promise<T> {
    const res = await this.open(path, timeoutMs);
    const text = await KubeApi.body(res);
    if (res.statusCode !== 200) throw new KubeStatusError(res.statusCode ?? 0, path, text);
    return JSON.parse(text) as T;
  }

  /** Streams watch events until the server ends the stream; resolves then, rejects on errors. */
  async watch(path: string, onEvent: (e: { type: string; object: unknown }) => void, signal: AbortSignal): Promise<void> {
    const res = await this.open(path, undefined);
    if (res.statusCode !== 200) throw new KubeStatusError(res.statusCode ?? 0, path, await KubeApi.body(res));
    signal.addEventListener('abort', () => res.destroy(), { once: true });
    let buf = '';
    try {
      for await (const c of res) {
        buf += (c as Buffer).toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) onEvent(JSON.parse(line) as { type: string; object: unknown });
        }
      }
    } catch (e) {
      if (!signal.aborted) throw e;
    }
  }
}
