// A throw-away PKI for a lab or test cluster, made with the openssl CLI: one CA; the apiserver's
// serving certificate (IP SANs, since nothing here resolves names); client certificates whose
// subject is the identity RBAC sees (O = group, CN = user); the service-account RSA key pair.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../dataplane/kernel/exec.js';

export interface CertFiles {
  cert: string;
  key: string;
}

export interface Pki {
  dir: string;
  ca: CertFiles;
  /** service-account token signing key (private) and its public half. */
  saKey: string;
  saPub: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
const DAYS = ['-days', '3650'];

/** Creates the CA and service-account keys in `dir` unless they exist (so a restart keeps them). */
export async function ensurePki(dir: string): Promise<Pki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pki: Pki = { dir, ca: { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') }, saKey: join(dir, 'sa.key'), saPub: join(dir, 'sa.pub') };
  if (!existsSync(pki.ca.cert)) {
    await run('openssl', ['req', '-x509', ...EC, '-keyout', pki.ca.key, '-out', pki.ca.cert, ...DAYS, '-subj', '/CN=twill-lab-ca',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature']);
  }
  if (!existsSync(pki.saPub)) {
    await run('openssl', ['genrsa', '-out', pki.saKey, '2048']);
    await run('openssl', ['rsa', '-in', pki.saKey, '-pubout', '-out', pki.saPub]);
  }
  return pki;
}

export interface CertRequest {
  /** File stem inside the PKI folder. */
  name: string;
  cn: string;
  /** Groups (O=) — e.g. system:masters, system:nodes. */
  groups?: string[];
  ips?: string[];
  dns?: string[];
  usage: 'server' | 'client' | 'both';
}

/** Issues (or reuses) a certificate signed by the PKI's CA. */
export async function issueCert(pki: Pki, r: CertRequest): Promise<CertFiles> {
  const out = { cert: join(pki.dir, `${r.name}.crt`), key: join(pki.dir, `${r.name}.key`) };
  if (existsSync(out.cert) && existsSync(out.key)) return out;
  const subj = [...(r.groups ?? []).map((g) => `/O=${g}`), `/CN=${r.cn}`].join('');
  const eku = r.usage === 'server' ? 'serverAuth' : r.usage === 'client' ? 'clientAuth' : 'serverAuth,clientAuth';
  const san = [...(r.ips ?? []).map((i) => `IP:${i}`), ...(r.dns ?? []).map((d) => `DNS:${d}`)];
  await run('openssl', ['req', '-x509', ...EC, '-keyout', out.key, '-out', out.cert, ...DAYS, '-subj', subj, '-CA', pki.ca.cert, '-CAkey', pki.ca.key,
    '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment', '-addext', `extendedKeyUsage=${eku}`,
    ...(san.length ? ['-addext', `subjectAltName=${san.join(',')}`] : [])]);
  return out;
}
