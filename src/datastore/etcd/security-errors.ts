// Turns the TLS and auth failures gRPC reports (an OpenSSL alert inside an UNAVAILABLE, an etcd
// auth error) into one sentence that names the problem and the fix. A TLS alert from the server
// does not say why it refused us, but we know whether we sent a certificate at all, which
// separates "none given" from "not trusted".
import { isEtcd3Error } from './etcd3.js';
import type { EtcdSecurityOptions } from './security.js';

export type EtcdSecurityProblem =
  | 'client-cert-missing'
  | 'client-cert-rejected'
  | 'server-cert-untrusted'
  | 'server-name-mismatch'
  | 'not-tls'
  | 'auth-failed'
  | 'auth-required'
  | 'permission-denied';

export interface ExplainedProblem {
  problem: EtcdSecurityProblem;
  message: string;
}

const SERVER_UNTRUSTED = /unable to verify (the first|leaf)|self[- ]signed certificate|unable to get (local )?issuer|certificate has expired|certificate is not yet valid|UNABLE_TO_VERIFY|SELF_SIGNED|CERT_HAS_EXPIRED/i;
const NAME_MISMATCH = /does not match certificate's altnames|ERR_TLS_CERT_ALTNAME|Hostname\/IP does not match/i;
// Alerts a server sends when it refuses the client certificate: bad_certificate (42),
// unsupported (43), revoked (44), expired (45), unknown (46), unknown_ca (48), required (116).
const CLIENT_REJECTED = /alert (bad certificate|unsupported certificate|certificate revoked|certificate expired|certificate unknown|unknown ca|certificate required)|SSL alert number (42|43|44|45|46|48|116)\b/i;
const NOT_TLS = /before secure TLS connection was established|wrong version number|packet length too long|http request/i;

/** Recognises a TLS or auth failure; undefined for anything else (an outage, a timeout...). */
export function explainSecurityError(e: unknown, opts: EtcdSecurityOptions, tls: boolean): ExplainedProblem | undefined {
  const text = e instanceof Error ? e.message : String(e);
  const user = opts.username !== undefined ? `user ${JSON.stringify(opts.username)}` : undefined;
  if (isEtcd3Error(e, 'EtcdAuthenticationFailedError')) {
    return {
      problem: 'auth-failed',
      message: `authentication failed: etcd refused ${user ?? 'the user'} with the password given (wrong user name or password); check --etcd-username and the password file (--etcd-password-file) or TWILL_ETCD_PASSWORD`,
    };
  }
  if (/user name is empty/.test(text)) {
    return {
      problem: 'auth-required',
      message: 'etcd has authentication enabled and no user was given: set --etcd-username with --etcd-password-file, or use a client certificate whose common name is an etcd user',
    };
  }
  if (isEtcd3Error(e, 'EtcdPermissionDeniedError')) {
    return {
      problem: 'permission-denied',
      message: `permission denied: ${user ?? 'the etcd user (the client certificate\'s common name)'} may not read or write Twill's keys; grant it a role with readwrite on the key prefix (etcdctl role grant-permission --prefix)`,
    };
  }
  if (!tls) return undefined;
  if (NAME_MISMATCH.test(text)) {
    return {
      problem: 'server-name-mismatch',
      message: `TLS: etcd's server certificate does not name the host or address in the endpoint (${detail(text)}); connect by a name or IP listed in its subjectAltName, or reissue the server certificate`,
    };
  }
  if (SERVER_UNTRUSTED.test(text)) {
    return {
      problem: 'server-cert-untrusted',
      message: `TLS: etcd's server certificate is not trusted (${detail(text)}): it is not signed by the CA in ${opts.caFile !== undefined ? `--etcd-ca-file ${opts.caFile}` : 'the system roots (no --etcd-ca-file given)'}; give --etcd-ca-file the CA that signed etcd's --cert-file`,
    };
  }
  if (CLIENT_REJECTED.test(text)) {
    if (opts.certFile === undefined) {
      return {
        problem: 'client-cert-missing',
        message: `TLS: etcd requires a client certificate and none was given (${detail(text)}); set --etcd-cert-file and --etcd-key-file to a certificate signed by the CA in etcd's --trusted-ca-file`,
      };
    }
    return {
      problem: 'client-cert-rejected',
      message: `TLS: etcd rejected the client certificate ${opts.certFile} (${detail(text)}): it is not signed by a CA in etcd's --trusted-ca-file, has expired, or is not for client use; use a client certificate issued by the CA etcd trusts`,
    };
  }
  if (NOT_TLS.test(text)) {
    return {
      problem: 'not-tls',
      message: `TLS: the endpoint did not complete a TLS handshake (${detail(text)}); it probably serves plaintext: enable TLS on etcd (--cert-file, --key-file) or, on loopback, use http://`,
    };
  }
  return undefined;
}

/** The OpenSSL reason only: drops gRPC's wrapping, source paths and timestamps. */
function detail(text: string): string {
  const alert = /alert ([a-z ]+?)(?::|$)/i.exec(text);
  if (alert) return `TLS alert: ${alert[1]}`;
  const m = /Last error: (?:Error: )?(.*?)(?:\. Resolution note|$)/s.exec(text);
  return (m?.[1] ?? text).replace(/\s*\(\d{4}-\d\d-\d\dT[^)]*\)/, '').trim().slice(0, 160);
}
