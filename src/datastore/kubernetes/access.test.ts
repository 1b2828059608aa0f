import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { isTwillError } from '../../util/errors.js';
import { inClusterAccess, kubeconfigAccess } from './access.js';

const dir = mkdtempSync(join(tmpdir(), 'ks-access-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(name: string, cluster: object, user: object): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster }, { name: 'other', cluster: { server: 'https://192.0.2.9:6443' } }],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }, { name: 'o', context: { cluster: 'other', user: 'u' } }],
      'current-context': 'ctx',
    }),
  );
  return file;
}

describe('cluster access', () => {
  it('reads kubeadm-style inline data (base64) for the CA, client certificate and key', () => {
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    const f = kubeconfig('admin.conf', { server: 'https://192.0.2.1:6443/', 'certificate-authority-data': b64('CA') }, { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') });
    const a = kubeconfigAccess(f);
    assert.equal(a.server, 'https://192.0.2.1:6443');
    assert.deepEqual([a.ca?.toString(), a.cert?.toString(), a.key?.toString(), a.token], ['CA', 'CERT', 'KEY', undefined]);
    assert.equal(kubeconfigAccess(f, 'o').server, 'https://192.0.2.9:6443', 'an explicit context wins');
  });

  it('reads disable-compression from the cluster, as client-go does (compressed answers otherwise)', () => {
    assert.equal(kubeconfigAccess(kubeconfig('plain.conf', { server: 'https://192.0.2.1:6443' }, { token: 't' })).disableCompression, undefined);
    assert.equal(kubeconfigAccess(kubeconfig('nogzip.conf', { server: 'https://192.0.2.1:6443', 'disable-compression': true }, { token: 't' })).disableCompression, true);
  });

  it('reads kubectl-style file paths (relative to the kubeconfig) and tokens', () => {
    writeFileSync(join(dir, 'ca.crt'), 'CAFILE');
    const f = kubeconfig('token.conf', { server: 'https://192.0.2.1:6443', 'certificate-authority': 'ca.crt' }, { token: 'abc' });
    const a = kubeconfigAccess(f);
    assert.deepEqual([a.ca?.toString(), a.token, a.cert], ['CAFILE', 'abc', undefined]);
  });

  it('says what is wrong: missing files, half a key pair, no context, exec plugins', () => {
    const bad = [
      kubeconfig('nofile.conf', { server: 'https://x:1', 'certificate-authority': '/nonexistent/ca.crt' }, { token: 't' }),
      kubeconfig('half.conf', { server: 'https://x:1' }, { 'client-certificate-data': 'QQ==' }),
      kubeconfig('exec.conf', { server: 'https://x:1' }, { exec: { command: 'aws' } }),
      kubeconfig('noserver.conf', {}, { token: 't' }),
    ];
    for (const f of bad) assert.throws(() => kubeconfigAccess(f), (e: unknown) => isTwillError(e, 'CONFIG_INVALID') && e.message.includes(f), f);
    assert.throws(() => kubeconfigAccess(bad[0]!, 'nope'), /no context named "nope"/);
    assert.throws(() => kubeconfigAccess(join(dir, 'missing.conf')), /cannot read kubeconfig/);
  });

  it('in a pod: the service account token file (re-read later) and CA, from KUBERNETES_SERVICE_HOST/PORT', () => {
    const sa = join(dir, 'sa');
    assert.throws(() => inClusterAccess({}, sa), /--kubeconfig/);
    assert.throws(() => inClusterAccess({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }, sa), /not mounted/);
    rmSync(sa, { recursive: true, force: true });
    mkdtempSync(join(dir, 'x'));
    writeFileSync(join(dir, 'ca.crt'), 'SACA');
    writeFileSync(join(dir, 'token'), 'tok\n');
    const a = inClusterAccess({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, dir);
    assert.equal(a.server, 'https://[fd00::1]:443');
    assert.equal(a.tokenFile, join(dir, 'token'));
    assert.equal(a.ca?.toString(), 'SACA');
    // kubeProxyReplacement: the apiserver directly, with the service account's credentials.
    const direct = inClusterAccess({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }, dir, { server: 'https://192.0.2.1:6443/' });
    assert.deepEqual([direct.server, direct.tokenFile, direct.ca?.toString()], ['https://192.0.2.1:6443', join(dir, 'token'), 'SACA']);
    assert.equal(inClusterAccess({}, dir, { server: 'https://192.0.2.1:6443' }).server, 'https://192.0.2.1:6443', 'no Service environment needed');
  });
});
