import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTwillError } from '../util/errors.js';
import { EtcdStore, MemoryStore, openStore } from './index.js';

describe('openStore', () => {
  it('opens memory and etcd stores from their specs', async () => {
    const m = await openStore('memory');
    assert.ok(m instanceof MemoryStore);
    await m.close();
    for (const spec of ['etcd:http://127.0.0.1:2379', 'etcd:unix:///run/twill/etcd.sock:0', 'etcd:https://10.0.0.1:2379,https://10.0.0.2:2379']) {
      const s = await openStore(spec, { prefix: '/lab/' });
      assert.ok(s instanceof EtcdStore);
      assert.equal(s.name, spec); // connecting is lazy: nothing is dialled until the first call
      await s.close();
    }
    const plain = 'etcd:http://10.0.0.1:2379,http://10.0.0.2:2379';
    await assert.rejects(openStore(plain), (e: unknown) => isTwillError(e, 'CONFIG_INVALID') && e.message.includes('--etcd-allow-plaintext'));
    const allowed = await openStore(plain, { etcd: { allowPlaintext: true } });
    assert.equal(allowed.name, plain);
    await allowed.close();
  });

  it('refuses anything else with a message that shows the accepted forms', async () => {
    for (const spec of ['', 'etcd', 'etcd:', 'etcd:127.0.0.1:2379', 'etcd:unix://relative.sock', 'kubernetes:', 'redis://x']) {
      await assert.rejects(openStore(spec), (e: unknown) => isTwillError(e, 'CONFIG_INVALID') && e.message.includes('https://HOST:PORT') && e.message.includes('unix:///'), spec);
    }
  });

  it('kubernetes outside a pod without a kubeconfig says what to pass', async () => {
    const saved = process.env['KUBERNETES_SERVICE_HOST'];
    delete process.env['KUBERNETES_SERVICE_HOST'];
    try {
      await assert.rejects(openStore('kubernetes'), (e: unknown) => isTwillError(e, 'CONFIG_INVALID') && e.message.includes('--kubeconfig'));
    } finally {
      if (saved !== undefined) process.env['KUBERNETES_SERVICE_HOST'] = saved;
    }
  });
});
