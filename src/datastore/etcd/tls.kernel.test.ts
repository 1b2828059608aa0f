// The etcd store over TLS against a real etcd started with --client-cert-auth, with certificates
// made here by openssl: the shared Store suite runs over the right certificate, and each way of
// getting it wrong (no client certificate, one from another CA, the wrong CA for the server, a key
// others can read, a wrong password) fails at once with an error naming the problem.
import assert from 'node:assert/strict';
import { chmod, copyFile, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Etcd3, type IOptions } from 'etcd3';
import { TestScope } from '../../../test/support/scope.js';
import { makeTestCerts, type TestCerts } from '../../../test/support/tls-certs.js';
import { isTwillError } from '../../util/errors.js';
import { runStoreConformance } from '../conformance.js';
import { etcdConformanceBackend } from './conformance-backend.js';
import { node, rejectsWith } from '../conformance-support.js';
import { openStore } from '../index.js';
import type { EtcdSecurityOptions } from './security.js';
import { startEtcd, type EtcdServer } from './server.js';
import { EtcdStore } from './store.js';

const scope = new TestScope();
let certs: TestCerts;
let server: EtcdServer;
let admin: Etcd3;
let caseNo = 0;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const good = (): EtcdSecurityOptions => ({ caFile: certs.ca.cert, certFile: certs.client.cert, keyFile: certs.client.key });
const adminCreds = (): IOptions['credentials'] => ({ rootCertificate: readFileSync(certs.ca.cert), privateKey: readFileSync(certs.client.key), certChain: readFileSync(certs.client.cert) });

before(async () => {
  const dir = await scope.tmpdir('tls-etcd-');
  certs = await makeTestCerts(dir);
  server = await startEtcd({
    dataDir: join(dir, 'etcd'),
    clientUrls: ['https'],
    tls: { certFile: certs.server.cert, keyFile: certs.server.key, trustedCaFile: certs.ca.cert, clientCertAuth: true },
  });
  scope.defer(() => server.stop());
  admin = new Etcd3({ hosts: server.endpoints[0]!, credentials: adminCreds() });
  scope.defer(() => admin.close());
});

after(() => scope.cleanup());

runStoreConformance(
  'etcd over TLS with a client certificate',
  async () => {
    const prefix = `/tls${process.pid}-${caseNo++}/`;
    return etcdConformanceBackend(server, admin, prefix, () => new EtcdStore({ hosts: server.endpoints[0]!, prefix, security: good() }));
  },
  { timeoutMs: 30_000 },
);

/** Opens a store with `sec`, makes one call, and returns the TwillError it fails with. */
async function failure(sec: EtcdSecurityOptions, hosts = server.endpoints[0]!): Promise<{ problem: string | undefined; message: string }> {
  const s = new EtcdStore({ hosts, prefix: '/tls-fail/', callTimeoutMs: 3_000, security: sec });
  try {
    const t0 = Date.now();
    const e = await s.create(node('n1')).then(
      () => assert.fail('the call succeeded'),
      (err: unknown) => err,
    );
    assert.ok(isTwillError(e, 'DATASTORE'), `a DATASTORE error, got ${String(e)}`);
    assert.ok(Date.now() - t0 < 3_000, 'fails at once, not by a timeout');
    return { problem: e.details, message: e.message };
  } finally {
    await s.close();
  }
}

describe('etcd TLS: the right certificate', () => {
  it('openStore speaks etcd:https:// and says how it is secured; nothing in it is a secret', async () => {
    const s = await openStore(`etcd:${server.endpoints[0]!}`, { prefix: '/tls-open/', etcd: good() });
    try {
      assert.equal(await s.ping(), true);
      await s.create(node('n1'));
      assert.equal((await s.get('TwillNode', 'n1'))?.metadata.name, 'n1');
      assert.equal(s.security, `TLS (CA ${certs.ca.cert}, client cert ${certs.client.cert}), no etcd user`);
      const key = readFileSync(certs.client.key, 'utf8');
      assert.ok(!JSON.stringify(s.security).includes(key.split('\n')[1]!));
    } finally {
      await admin.delete().prefix('/tls-open/');
      await s.close();
    }
  });
});

describe('etcd TLS: wrong or missing credentials fail clearly', () => {
  it('no client certificate: client-cert-missing, says to set --etcd-cert-file', async () => {
    const f = await failure({ caFile: certs.ca.cert });
    assert.equal(f.problem, 'client-cert-missing', f.message);
    assert.match(f.message, /requires a client certificate and none was given.*--etcd-cert-file/);
  });

  it('a client certificate from another CA: client-cert-rejected, names the file', async () => {
    const f = await failure({ caFile: certs.ca.cert, certFile: certs.otherClient.cert, keyFile: certs.otherClient.key });
    assert.equal(f.problem, 'client-cert-rejected', f.message);
    assert.ok(f.message.includes(`rejected the client certificate ${certs.otherClient.cert}`), f.message);
  });

  it('the wrong CA for the server: server-cert-untrusted, names the CA file', async () => {
    const f = await failure({ caFile: certs.otherCa.cert, certFile: certs.client.cert, keyFile: certs.client.key });
    assert.equal(f.problem, 'server-cert-untrusted', f.message);
    assert.ok(f.message.includes(`--etcd-ca-file ${certs.otherCa.cert}`), f.message);
  });

  it('TLS to a plaintext listener: not-tls', async () => {
    const plain = await startEtcd({ dataDir: join(certs.dir, 'plain'), clientUrls: ['http'] });
    try {
      const f = await failure(good(), plain.endpoints[0]!.replace('http:', 'https:'));
      assert.equal(f.problem, 'not-tls', f.message);
    } finally {
      await plain.stop();
    }
  });

  it('missing files, a key readable by others, and a key of another certificate are refused before connecting', async () => {
    const missing = join(certs.dir, 'nope.crt');
    await rejectsWith(openStore(`etcd:${server.endpoints[0]!}`, { etcd: { ...good(), certFile: missing } }), 'CONFIG_INVALID');
    assert.throws(() => new EtcdStore({ hosts: server.endpoints[0]!, security: { ...good(), caFile: missing } }), new RegExp(`cannot read --etcd-ca-file ${missing}: no such file`));
    const loose = join(certs.dir, 'tls-loose.key');
    await copyFile(certs.client.key, loose);
    await chmod(loose, 0o644);
    assert.throws(() => new EtcdStore({ hosts: server.endpoints[0]!, security: { ...good(), keyFile: loose } }), (e: unknown) => {
      assert.ok(isTwillError(e, 'CONFIG_INVALID'));
      assert.match(e.message, new RegExp(`--etcd-key-file ${loose} has mode 0644.*readable by root only: chmod 600 ${loose}`));
      assert.ok(!e.message.includes('PRIVATE KEY'), 'no key material in the message');
      return true;
    });
    assert.throws(() => new EtcdStore({ hosts: server.endpoints[0]!, security: { ...good(), keyFile: certs.otherClient.key } }), /the key does not belong to the certificate/);
  });
});

describe('etcd TLS with user and password (etcd auth enabled)', () => {
  let authServer: EtcdServer;
  const prefix = '/twill/';

  before(async () => {
    // The client certificate's CN must not be an etcd user here, or etcd would take it as the login.
    const dir = join(certs.dir, 'auth');
    authServer = await startEtcd({
      dataDir: dir,
      clientUrls: ['https'],
      tls: { certFile: certs.server.cert, keyFile: certs.server.key, trustedCaFile: certs.ca.cert, clientCertAuth: true },
    });
    const a = new Etcd3({ hosts: authServer.endpoints[0]!, credentials: adminCreds() });
    try {
      await a.user('root').create('tls-root-pw');
      await a.role('root').create();
      await a.user('root').addRole('root');
      const role = await a.role('tls-twill').create();
      await role.grant({ permission: 'Readwrite', range: a.range({ prefix }) });
      await a.user('tls-twill').create('tls-good-pw');
      await a.user('tls-twill').addRole('tls-twill');
      await a.auth.authEnable();
    } finally {
      a.close();
    }
  });

  after(() => authServer?.stop());

  const pwFile = async (name: string, text: string, mode = 0o600): Promise<string> => {
    const f = join(certs.dir, name);
    await writeFile(f, text, { mode });
    await chmod(f, mode);
    return f;
  };

  it('the right user and password file work; status names the user, not the password', async () => {
    const passwordFile = await pwFile('tls-pw-good', 'tls-good-pw\n');
    const s = await openStore(`etcd:${authServer.endpoints[0]!}`, { prefix, etcd: { ...good(), username: 'tls-twill', passwordFile } });
    try {
      await s.create(node('n1'));
      assert.equal((await s.get('TwillNode', 'n1'))?.metadata.name, 'n1');
      assert.match(s.security ?? '', /auth as user tls-twill$/);
      assert.ok(!(s.security ?? '').includes('tls-good-pw'));
    } finally {
      await s.close();
    }
  });

  it('a wrong password: auth-failed, and the password is not in the message', async () => {
    const passwordFile = await pwFile('tls-pw-bad', 'tls-wrong-pw\n');
    const f = await failure({ ...good(), username: 'tls-twill', passwordFile }, authServer.endpoints[0]!);
    assert.equal(f.problem, 'auth-failed', f.message);
    assert.match(f.message, /wrong user name or password/);
    assert.ok(!f.message.includes('tls-wrong-pw'));
  });

  it('no user while etcd requires one: permission-denied (the certificate CN is no etcd user)', async () => {
    const f = await failure(good(), authServer.endpoints[0]!);
    assert.equal(f.problem, 'permission-denied', f.message);
  });

  it('a watch resumes after etcd restarts (its auth tokens are lost) with no other call on the store', async () => {
    const passwordFile = await pwFile('tls-pw-watch', 'tls-good-pw\n');
    const s = new EtcdStore({ hosts: authServer.endpoints[0]!, prefix, security: { ...good(), username: 'tls-twill', passwordFile } });
    const writer = (): Etcd3 => new Etcd3({ hosts: authServer.endpoints[0]!, credentials: adminCreds(), auth: { username: 'root', password: 'tls-root-pw' } });
    const seen: string[] = [];
    const { revision } = await s.list('TwillNode');
    const errors: string[] = [];
    const w = s.watch('TwillNode', {
      fromRevision: revision,
      onEvent: (ev) => ev.type !== 'RESYNC' && seen.push(`${ev.type} ${ev.object.metadata.name}`),
      onStatus: (st) => st.error !== undefined && errors.push(String(st.error)),
    });
    try {
      let a = writer();
      await a.put(`${prefix}twillnodes/w1`).value(JSON.stringify(node('w1')));
      a.close();
      for (let i = 0; i < 50 && seen.length < 1; i++) await sleep(100);
      assert.deepEqual(seen, ['ADDED w1']);
      await authServer.stop();
      await sleep(500);
      await authServer.start();
      a = writer();
      try {
        await a.put(`${prefix}twillnodes/w2`).value(JSON.stringify(node('w2')));
      } finally {
        a.close();
      }
      for (let i = 0; i < 100 && seen.length < 2; i++) await sleep(100);
      assert.deepEqual(seen, ['ADDED w1', 'ADDED w2'], `the watch came back by itself, with a fresh token; errors: ${errors.join(' | ')}`);
    } finally {
      w.stop();
      await s.close();
    }
  });

  it('a password file others can read is refused, naming the path, mode and fix', async () => {
    const passwordFile = await pwFile('tls-pw-loose', 'tls-good-pw\n', 0o640);
    assert.throws(
      () => new EtcdStore({ hosts: authServer.endpoints[0]!, security: { ...good(), username: 'tls-twill', passwordFile } }),
      new RegExp(`--etcd-password-file ${passwordFile} has mode 0640.*chmod 600 ${passwordFile}`),
    );
  });
});
