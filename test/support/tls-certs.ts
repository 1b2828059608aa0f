// Throw-away certificates for TLS tests, made with the openssl CLI into a directory the caller
// owns: a CA, a server certificate for 127.0.0.1 signed by it, a client certificate signed by it,
// and a second CA with a client certificate of its own (what a misconfigured node would present).
// Keys are written mode 0600, as the agent demands.
import { execFile } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertPair {
  cert: string;
  key: string;
}

export interface TestCerts {
  dir: string;
  /** The CA that signed the server and the good client certificate. */
  ca: CertPair;
  /** Server certificate: CN twill-etcd, SAN IP:127.0.0.1 (and DNS:localhost). */
  server: CertPair;
  /** Client certificate signed by `ca`, CN `clientCn`. */
  client: CertPair;
  /** Another CA, trusted by nobody. */
  otherCa: CertPair;
  /** Client certificate signed by `otherCa`. */
  otherClient: CertPair;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await run('openssl', args, { cwd, timeout: 30_000 });
}

async function makeCa(dir: string, name: string): Promise<CertPair> {
  const p = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', p.key, '-out', p.cert, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  await chmod(p.key, 0o600);
  return p;
}

async function makeLeaf(dir: string, name: string, ca: CertPair, cn: string, ext: string): Promise<CertPair> {
  const p = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  await writeFile(extFile, ext);
  await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', p.key, '-out', csr, '-subj', `/CN=${cn}`], dir);
  await chmod(p.key, 0o600);
  await openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', p.cert, '-days', '2', '-extfile', extFile], dir);
  return p;
}

/** Makes the whole set in `dir` (which must exist). `clientCn` is the client's common name. */
export async function makeTestCerts(dir: string, clientCn = 'twill-node'): Promise<TestCerts> {
  const ca = await makeCa(dir, 'tls-ca');
  const otherCa = await makeCa(dir, 'tls-other-ca');
  const server = await makeLeaf(dir, 'tls-server', ca, 'twill-etcd', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
  const clientExt = 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n';
  const client = await makeLeaf(dir, 'tls-client', ca, clientCn, clientExt);
  const otherClient = await makeLeaf(dir, 'tls-other-client', otherCa, clientCn, clientExt);
  return { dir, ca, server, client, otherCa, otherClient };
}
