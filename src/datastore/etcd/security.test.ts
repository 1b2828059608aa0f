// Option checks and file handling of etcd security, without a server: which endpoints may be
// plaintext, which option sets are refused, and that secret files others can read are refused.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isTwillError } from '../../util/errors.js';
import { openStore } from '../index.js';
import { explainSecurityError } from './security-errors.js';
import { isLoopbackHost, loadEtcdSecurity } from './security.js';

let dir: string;
const PEM_CERT = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
const PEM_KEY = '-----BEGIN PRIVATE KEY-----\nSECRETKEYBYTES\n-----END PRIVATE KEY-----\n';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tls-unit-'));
  await writeFile(join(dir, 'ca.crt'), PEM_CERT);
  await writeFile(join(dir, 'c.crt'), PEM_CERT);
  await writeFile(join(dir, 'c.key'), PEM_KEY, { mode: 0o600 });
  await writeFile(join(dir, 'pw'), 'hunter2-secret\n', { mode: 0o600 });
});
after(() => rm(dir, { recursive: true, force: true }));

const refused = (fn: () => unknown, re: RegExp): void => {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isTwillError(e, 'CONFIG_INVALID'), String(e));
    assert.match(e.message, re);
    return true;
  });
};

describe('etcd plaintext rule', () => {
  it('knows loopback', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '[::1]', '::1', '::ffff:127.0.0.1']) assert.ok(isLoopbackHost(h), h);
    for (const h of ['10.0.0.1', '128.0.0.1', 'etcd.example', '[::2]', '0.0.0.0', '::']) assert.ok(!isLoopbackHost(h), h);
  });

  it('refuses http:// to a non-loopback host without --etcd-allow-plaintext, and says why and what to do', () => {
    refused(() => loadEtcdSecurity(['http://10.0.0.5:2379']), /refusing plaintext etcd at http:\/\/10\.0\.0\.5:2379: it is not a loopback address.*unencrypted.*etcd:https:\/\/HOST:PORT.*--etcd-allow-plaintext/);
    refused(() => loadEtcdSecurity(['http://127.0.0.1:2379', 'http://etcd.example:2379']), /refusing plaintext etcd at http:\/\/etcd\.example:2379/);
    const ok = loadEtcdSecurity(['http://10.0.0.5:2379'], { allowPlaintext: true });
    assert.equal(ok.summary, 'PLAINTEXT (allowed by --etcd-allow-plaintext), no etcd user');
    assert.equal(loadEtcdSecurity(['http://127.0.0.1:2379']).summary, 'plaintext on loopback, no etcd user');
    assert.equal(loadEtcdSecurity(['unix:///run/x.sock:0']).summary, 'plaintext over a unix socket, no etcd user');
  });

  it('openStore applies it (the lab spec stays allowed)', async () => {
    await assert.rejects(openStore('etcd:http://192.0.2.1:2379'), (e: unknown) => isTwillError(e, 'CONFIG_INVALID') && /--etcd-allow-plaintext/.test(e.message));
    const s = await openStore('etcd:http://192.0.2.1:2379', { etcd: { allowPlaintext: true } });
    await s.close();
    const lab = await openStore('etcd:unix:///nonexistent/etcd.sock:0');
    await lab.close();
  });
});

describe('etcd TLS options', () => {
  it('loads CA, certificate and key; the summary carries paths, never contents', () => {
    const s = loadEtcdSecurity(['https://10.0.0.5:2379', 'https://10.0.0.6:2379'], { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'c.crt'), keyFile: join(dir, 'c.key') });
    assert.ok(s.tls && s.clientCert);
    assert.equal(s.credentials?.privateKey?.toString(), PEM_KEY);
    assert.equal(s.summary, `TLS (CA ${join(dir, 'ca.crt')}, client cert ${join(dir, 'c.crt')}), no etcd user`);
    assert.ok(!s.summary.includes('SECRETKEYBYTES'));
    assert.equal(loadEtcdSecurity(['https://10.0.0.5:2379']).summary, 'TLS (CA system roots, no client cert), no etcd user');
  });

  it('refuses inconsistent option sets', () => {
    refused(() => loadEtcdSecurity(['https://a:1', 'http://127.0.0.1:2']), /mix https:\/\/ with plaintext/);
    refused(() => loadEtcdSecurity(['http://127.0.0.1:2379'], { caFile: join(dir, 'ca.crt') }), /--etcd-ca-file given, but .* not https:\/\/: write etcd:https/);
    refused(() => loadEtcdSecurity(['https://a:1'], { certFile: join(dir, 'c.crt') }), /both --etcd-cert-file and --etcd-key-file/);
    refused(() => loadEtcdSecurity(['https://a:1'], { username: 'twill' }), /user "twill" has no password: give --etcd-password-file FILE or set TWILL_ETCD_PASSWORD/);
    refused(() => loadEtcdSecurity(['https://a:1'], { password: 'x' }), /without --etcd-username/);
    refused(() => loadEtcdSecurity(['https://a:1'], { username: 'u', password: 'x', passwordFile: join(dir, 'pw') }), /either --etcd-password-file or TWILL_ETCD_PASSWORD/);
  });

  it('names a missing file, and a file that is no PEM', () => {
    refused(() => loadEtcdSecurity(['https://a:1'], { caFile: join(dir, 'nope.crt') }), new RegExp(`cannot read --etcd-ca-file ${join(dir, 'nope.crt')}: no such file`));
    refused(() => loadEtcdSecurity(['https://a:1'], { caFile: join(dir, 'pw') }), /--etcd-ca-file .* holds no PEM "CERTIFICATE" block/);
    refused(() => loadEtcdSecurity(['https://a:1'], { certFile: join(dir, 'c.crt'), keyFile: join(dir, 'nope.key') }), /cannot read --etcd-key-file .*nope\.key: no such file/);
  });

  it('refuses a key or password file group or others can read, with path, mode and the chmod fix', async () => {
    for (const mode of [0o644, 0o640, 0o604]) {
      const key = join(dir, `loose-${mode.toString(8)}.key`);
      await writeFile(key, PEM_KEY);
      await chmod(key, mode);
      refused(
        () => loadEtcdSecurity(['https://a:1'], { certFile: join(dir, 'c.crt'), keyFile: key }),
        new RegExp(`--etcd-key-file ${key} has mode 0${mode.toString(8)}: .*readable by root only: chmod 600 ${key}$`),
      );
    }
    const pw = join(dir, 'loose-pw');
    await writeFile(pw, 'hunter2-secret\n');
    await chmod(pw, 0o644);
    assert.throws(() => loadEtcdSecurity(['https://a:1'], { username: 'u', passwordFile: pw }), (e: unknown) => {
      assert.ok(e instanceof Error && /--etcd-password-file .* has mode 0644.*chmod 600/.test(e.message));
      assert.ok(!e.message.includes('hunter2'), 'the password is not in the message');
      return true;
    });
  });

  it('reads the password file (one line, newline dropped) and keeps it out of the summary', () => {
    const s = loadEtcdSecurity(['https://a:1'], { username: 'twill', passwordFile: join(dir, 'pw') });
    assert.deepEqual(s.auth, { username: 'twill', password: 'hunter2-secret' });
    assert.equal(s.summary, 'TLS (CA system roots, no client cert), auth as user twill');
  });
});

describe('etcd TLS/auth error explanations', () => {
  const alert = (n: number, name: string): Error => new Error(`14 UNAVAILABLE: No connection established. Last error: 80:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert ${name}:../deps/openssl/rec_layer_s3.c:1601:SSL alert number ${n}\n (2026-12-02T05:21:47.075Z). Resolution note: `);
  it('tells a missing client certificate from a rejected one by what we sent', () => {
    assert.equal(explainSecurityError(alert(42, 'bad certificate'), {}, true)?.problem, 'client-cert-missing');
    const r = explainSecurityError(alert(116, 'certificate required'), { certFile: '/etc/twill/n.crt' }, true);
    assert.equal(r?.problem, 'client-cert-rejected');
    assert.match(r!.message, /rejected the client certificate \/etc\/twill\/n\.crt \(TLS alert: certificate required\)/);
  });
  it('server not trusted, name mismatch, not TLS; nothing for an outage', () => {
    const untrusted = explainSecurityError(new Error('14 UNAVAILABLE: No connection established. Last error: Error: unable to verify the first certificate. Resolution note: '), { caFile: '/x/ca.crt' }, true);
    assert.equal(untrusted?.problem, 'server-cert-untrusted');
    assert.match(untrusted!.message, /\(unable to verify the first certificate\).*--etcd-ca-file \/x\/ca\.crt/);
    assert.equal(explainSecurityError(new Error("Hostname/IP does not match certificate's altnames: IP: 10.0.0.9 is not in the cert's list"), {}, true)?.problem, 'server-name-mismatch');
    assert.equal(explainSecurityError(new Error('Last error: Error: Client network socket disconnected before secure TLS connection was established. Resolution note: '), {}, true)?.problem, 'not-tls');
    assert.equal(explainSecurityError(new Error('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:2379'), {}, true), undefined);
    assert.equal(explainSecurityError(alert(42, 'bad certificate'), {}, false), undefined, 'no TLS, no TLS explanation');
  });
});
