import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { run } from '../../dataplane/kernel/exec.js';
import { ensurePki, issueCert } from './pki.js';

test('pki: a serving certificate carries its IP SANs and verifies against the CA; a client certificate names its groups', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'twill-pki-'));
  try {
    const pki = await ensurePki(dir);
    const srv = await issueCert(pki, { name: 'srv', cn: 'kube-apiserver', usage: 'server', ips: ['192.0.2.1', '10.96.0.1'], dns: ['kubernetes'] });
    const text = (await run('openssl', ['x509', '-in', srv.cert, '-noout', '-text'])).stdout;
    assert.match(text, /IP Address:192\.0\.2\.1, IP Address:10\.96\.0\.1, DNS:kubernetes/);
    assert.match(text, /TLS Web Server Authentication/);
    await run('openssl', ['verify', '-CAfile', pki.ca.cert, srv.cert]);
    const cli = await issueCert(pki, { name: 'node', cn: 'system:node:n1', groups: ['system:nodes'], usage: 'client' });
    const subj = (await run('openssl', ['x509', '-in', cli.cert, '-noout', '-subject'])).stdout;
    assert.match(subj, /O ?= ?system:nodes, CN ?= ?system:node:n1/);
    // A second ensure keeps the CA (a restarted lab must not invalidate every issued certificate).
    const ca1 = (await run('openssl', ['x509', '-in', pki.ca.cert, '-noout', '-fingerprint'])).stdout;
    await ensurePki(dir);
    assert.equal((await run('openssl', ['x509', '-in', pki.ca.cert, '-noout', '-fingerprint'])).stdout, ca1);
    const sa = (await run('openssl', ['rsa', '-pubin', '-in', pki.saPub, '-noout', '-text'])).stdout;
    assert.match(sa, /Public-Key: \(2048 bit\)/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
