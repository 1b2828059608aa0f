// How the agent proves who it is to etcd and checks it talks to the real etcd: TLS with a CA,
// a client certificate and key, optionally a user name and password. Everything is read once, when
// the store is opened, so a wrong path or a key others can read stops the agent at start-up with a
// message naming the file, rather than failing later on a reconnect. Key material and passwords
// never reach a log line or an error message: only paths, modes and user names do.
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import type { IOptions } from 'etcd3';
import { TwillError } from '../../util/errors.js';

export interface EtcdSecurityOptions {
  /** PEM CA bundle the etcd server certificate must chain to (default: the system's roots). */
  caFile?: string;
  /** PEM client certificate (chain) presented to etcd; needs keyFile. */
  certFile?: string;
  /** PEM private key of certFile; must be readable by its owner only. */
  keyFile?: string;
  /** etcd user (etcd's auth); the password comes from passwordFile or `password`. */
  username?: string;
  /** File holding the password (trailing newline ignored); readable by its owner only. */
  passwordFile?: string;
  /** The password itself, for callers that got it from the environment. Never from a flag. */
  password?: string;
  /** Allow http:// to an address other than loopback (credentials and data in clear). */
  allowPlaintext?: boolean;
}

export interface EtcdClientSecurity {
  credentials?: IOptions['credentials'];
  auth?: { username: string; password: string };
  /** For `twill status` and messages: paths and modes only, never secrets. */
  summary: string;
  tls: boolean;
  clientCert: boolean;
  /** What the operator configured, for error explanations. */
  options: EtcdSecurityOptions;
}

/** The env variable the agent reads an etcd password from (when no password file is given). */
export const ETCD_PASSWORD_ENV = 'TWILL_ETCD_PASSWORD';

const bad = (msg: string): never => {
  throw new TwillError('CONFIG_INVALID', msg);
};

/** True for 127.0.0.0/8, ::1 (also v4-mapped) and `localhost`: traffic that never leaves the host. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h) || /^(0{1,4}:){7}0{0,3}1$/.test(h);
  return false;
}

/** Checks the endpoints against the options and reads every file; throws CONFIG_INVALID. */
export function loadEtcdSecurity(hosts: string[], opts: EtcdSecurityOptions = {}): EtcdClientSecurity {
  const tlsHosts = hosts.filter((h) => h.startsWith('https://'));
  const tls = tlsHosts.length > 0;
  if (tls && tlsHosts.length !== hosts.length) {
    bad(`etcd endpoints ${hosts.join(',')} mix https:// with plaintext ones; the client uses one transport for all of them: make every endpoint https://`);
  }
  const tlsFiles = ([['--etcd-ca-file', opts.caFile], ['--etcd-cert-file', opts.certFile], ['--etcd-key-file', opts.keyFile]] as const).filter(([, v]) => v !== undefined);
  if (!tls && tlsFiles.length > 0) {
    bad(`${tlsFiles.map(([f]) => f).join(', ')} given, but the etcd endpoints ${hosts.join(',')} are not https://: write etcd:https://HOST:PORT to use TLS`);
  }
  if ((opts.certFile === undefined) !== (opts.keyFile === undefined)) {
    bad('etcd client certificate: give both --etcd-cert-file and --etcd-key-file, or neither');
  }
  const password = opts.password ?? (opts.passwordFile !== undefined ? readSecret(opts.passwordFile, '--etcd-password-file') : undefined);
  if (opts.passwordFile !== undefined && opts.password !== undefined) bad(`etcd password: give either --etcd-password-file or ${ETCD_PASSWORD_ENV}, not both`);
  if (opts.username !== undefined && password === undefined) bad(`etcd user ${JSON.stringify(opts.username)} has no password: give --etcd-password-file FILE or set ${ETCD_PASSWORD_ENV}`);
  if (opts.username === undefined && password !== undefined) bad('an etcd password was given without --etcd-username');
  if (opts.username === '' || password === '') bad('etcd user name and password must not be empty');
  checkPlaintext(hosts, opts, password !== undefined);

  const out: EtcdClientSecurity = { summary: '', tls, clientCert: opts.certFile !== undefined, options: opts };
  if (tls) {
    const rootCertificate = opts.caFile !== undefined ? readPem(opts.caFile, '--etcd-ca-file', 'CERTIFICATE') : undefined;
    const certChain = opts.certFile !== undefined ? readPem(opts.certFile, '--etcd-cert-file', 'CERTIFICATE') : undefined;
    const privateKey = opts.keyFile !== undefined ? readSecret(opts.keyFile, '--etcd-key-file', 'PRIVATE KEY') : undefined;
    // etcd3's type wants a root bundle; grpc-js falls back to the system's roots when it is absent.
    out.credentials = { rootCertificate: rootCertificate!, privateKey: privateKey !== undefined ? Buffer.from(privateKey) : undefined, certChain };
  }
  if (opts.username !== undefined && password !== undefined) out.auth = { username: opts.username, password };
  out.summary = describeSecurity(hosts, opts, out);
  return out;
}

function checkPlaintext(hosts: string[], opts: EtcdSecurityOptions, withPassword: boolean): void {
  const remote = hosts.filter((h) => h.startsWith('http://') && !isLoopbackHost(new URL(h).hostname));
  if (remote.length === 0 || opts.allowPlaintext) return;
  bad(
    `refusing plaintext etcd at ${remote.join(',')}: it is not a loopback address, so the cluster's state` +
      `${withPassword ? ' and the etcd password' : ''} would cross the network unencrypted and anyone on the path could read or change it. ` +
      'Use etcd:https://HOST:PORT with --etcd-ca-file, --etcd-cert-file and --etcd-key-file; if the network is trusted, say so with --etcd-allow-plaintext',
  );
}

function describeSecurity(hosts: string[], opts: EtcdSecurityOptions, s: EtcdClientSecurity): string {
  const parts: string[] = [];
  if (s.tls) {
    parts.push(`TLS (CA ${opts.caFile ?? 'system roots'}${opts.certFile ? `, client cert ${opts.certFile}` : ', no client cert'})`);
  } else if (hosts.every((h) => h.startsWith('unix://'))) {
    parts.push('plaintext over a unix socket');
  } else {
    parts.push(opts.allowPlaintext && hosts.some((h) => h.startsWith('http://') && !isLoopbackHost(new URL(h).hostname)) ? 'PLAINTEXT (allowed by --etcd-allow-plaintext)' : 'plaintext on loopback');
  }
  parts.push(s.auth ? `auth as user ${s.auth.username}` : 'no etcd user');
  return parts.join(', ');
}

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (code ?? 'unreadable');
    throw new TwillError('CONFIG_INVALID', `cannot read ${what} ${path}: ${why}; check the path (it must be a file on this node)`, { cause: e });
  }
}

function readPem(path: string, what: string, label: string): Buffer {
  const buf = readFile(path, what);
  // Checked here so a swapped or truncated file is named, instead of failing inside the TLS stack.
  if (!buf.toString('latin1').includes(`-----BEGIN ${label}-----`) && !(label === 'PRIVATE KEY' && /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(buf.toString('latin1')))) {
    bad(`${what} ${path} holds no PEM "${label}" block; give a PEM file (-----BEGIN ${label}-----)`);
  }
  return buf;
}

/** Reads a key or password file after checking nobody but its owner (root or us) can read it. */
function readSecret(path: string, what: string, pemLabel?: string): string {
  let st;
  try {
    st = statSync(path);
  } catch {
    // why: readFile below throws the same clear message
    return readFile(path, what).toString(); // throws the same clear message
  }
  if (!st.isFile()) bad(`${what} ${path} is not a regular file`);
  const mode = st.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    bad(`${what} ${path} has mode ${mode.toString(8).padStart(4, '0')}: group or others can read it, and it is a secret; it must be readable by root only: chmod 600 ${path}`);
  }
  const uid = process.getuid?.();
  if (st.uid !== 0 && st.uid !== uid) bad(`${what} ${path} is owned by uid ${st.uid}, not root: chown root ${path} && chmod 600 ${path}`);
  if (pemLabel) return readPem(path, what, pemLabel).toString();
  const text = readFile(path, what).toString('utf8').replace(/\r?\n$/, '');
  if (text.includes('\n')) bad(`${what} ${path} must hold the password on one line`);
  return text;
}
