// How the agent reaches kube-apiserver: its pod's service account (token + CA mounted by the
// kubelet, KUBERNETES_SERVICE_HOST/PORT), or a kubeconfig file of the shapes kubectl and kubeadm
// write (CA / client cert / client key as files or inline base64 data, or a bearer token; a
// cluster's `disable-compression: true` turns off gzip answers, as it does for client-go).
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { TwillError } from '../../util/errors.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface ClusterAccess {
  /** https://HOST:PORT (no trailing slash). */
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** A fixed bearer token. */
  token?: string;
  /** A token file re-read periodically (service-account tokens are rotated by the kubelet). */
  tokenFile?: string;
  insecureSkipVerify?: boolean;
  /**
   * Ask for answers uncompressed (kubeconfig cluster field `disable-compression`, as client-go
   * reads it): on a fast network gzip costs both ends CPU and the list more time than it saves.
   */
  disableCompression?: boolean;
  /** Where this came from, for messages. */
  source: string;
}

/**
 * In a pod: the mounted service account. `server` replaces the address the kubelet gives the pod
 * (the `kubernetes` Service), which only works once something serves Services.
 */
export function inClusterAccess(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT_DIR, opts: { server?: string | undefined } = {}): ClusterAccess {
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'] ?? '443';
  if (!host && !opts.server) {
    throw new TwillError('CONFIG_INVALID', 'datastore kubernetes: not running in a pod (KUBERNETES_SERVICE_HOST is unset) and no kubeconfig given; pass --kubeconfig FILE (e.g. /etc/kubernetes/admin.conf) or run the agent as the DaemonSet in deploy/twill.yaml');
  }
  const tokenFile = join(dir, 'token');
  let ca: Buffer;
  try {
    ca = readFileSync(join(dir, 'ca.crt'));
    readFileSync(tokenFile);
  } catch (e) {
    throw new TwillError('CONFIG_INVALID', `datastore kubernetes: the service account is not mounted at ${dir}; set automountServiceAccountToken: true on the agent's pod or pass --kubeconfig`, { cause: e });
  }
  if (opts.server) return { server: opts.server.replace(/\/+$/, ''), ca, tokenFile, source: `service account ${dir}, apiServer ${opts.server}` };
  const h = host!.includes(':') ? `[${host}]` : host!;
  return { server: `https://${h}:${port}`, ca, tokenFile, source: `service account ${dir}` };
}

type Obj = Record<string, unknown>;

function named(list: unknown, name: string, what: string, file: string): Obj {
  const found = Array.isArray(list) ? (list as Obj[]).find((e) => e && e['name'] === name) : undefined;
  if (!found) throw new TwillError('CONFIG_INVALID', `kubeconfig ${file}: no ${what} named ${JSON.stringify(name)}`);
  return (found[what] ?? {}) as Obj;
}

function material(o: Obj, field: string, base: string, file: string): Buffer | undefined {
  const data = o[`${field}-data`];
  if (typeof data === 'string' && data !== '') return Buffer.from(data, 'base64');
  const path = o[field];
  if (typeof path !== 'string' || path === '') return undefined;
  const abs = isAbsolute(path) ? path : join(base, path);
  try {
    return readFileSync(abs);
  } catch (e) {
    throw new TwillError('CONFIG_INVALID', `kubeconfig ${file}: cannot read ${field} ${abs}`, { cause: e });
  }
}

/** A kubeconfig file: its current context (or `context`). */
export function kubeconfigAccess(file: string, context?: string): ClusterAccess {
  let doc: Obj;
  try {
    doc = parseYaml(readFileSync(file, 'utf8')) as Obj;
  } catch (e) {
    throw new TwillError('CONFIG_INVALID', `cannot read kubeconfig ${file}`, { cause: e });
  }
  if (!doc || typeof doc !== 'object') throw new TwillError('CONFIG_INVALID', `kubeconfig ${file} is empty`);
  const ctxName = context ?? (doc['current-context'] as string | undefined);
  if (!ctxName) throw new TwillError('CONFIG_INVALID', `kubeconfig ${file} has no current-context; set one (kubectl config use-context NAME)`);
  const ctx = named(doc['contexts'], ctxName, 'context', file);
  const cluster = named(doc['clusters'], String(ctx['cluster']), 'cluster', file);
  const user = ctx['user'] === undefined ? {} : named(doc['users'], String(ctx['user']), 'user', file);
  const server = cluster['server'];
  if (typeof server !== 'string' || !/^https?:\/\//.test(server)) {
    throw new TwillError('CONFIG_INVALID', `kubeconfig ${file}: cluster ${JSON.stringify(ctx['cluster'])} needs server: https://HOST:PORT`);
  }
  const base = dirname(file);
  const access: ClusterAccess = { server: server.replace(/\/+$/, ''), source: `kubeconfig ${file} (context ${ctxName})` };
  const ca = material(cluster, 'certificate-authority', base, file);
  if (ca) access.ca = ca;
  if (cluster['insecure-skip-tls-verify'] === true) access.insecureSkipVerify = true;
  if (cluster['disable-compression'] === true) access.disableCompression = true;
  const cert = material(user, 'client-certificate', base, file);
  const key = material(user, 'client-key', base, file);
  if ((cert === undefined) !== (key === undefined)) throw new TwillError('CONFIG_INVALID', `kubeconfig ${file}: user ${JSON.stringify(ctx['user'])} has a client certificate without its key (or the reverse)`);
  if (cert && key) Object.assign(access, { cert, key });
  if (typeof user['token'] === 'string' && user['token'] !== '') access.token = user['token'];
  if (typeof user['tokenFile'] === 'string' && user['tokenFile'] !== '') access.tokenFile = isAbsolute(user['tokenFile']) ? user['tokenFile'] : join(base, user['tokenFile']);
  if (user['exec'] !== undefined || user['auth-provider'] !== undefined) {
    if (!access.cert && !access.token && !access.tokenFile) throw new TwillError('CONFIG_INVALID', `kubeconfig ${file}: exec and auth-provider credentials are not supported; use a client certificate or a token (e.g. a service-account token)`);
  }
  return access;
}
