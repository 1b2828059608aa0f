// Runs the shared Store suite against a real etcd (a private server under a temp dir; no netns
// needed, but it spawns a server, hence .kernel.test.ts). Clients alternate between the unix
// socket and the loopback TCP listener, so both transports carry every case.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { TestScope } from '../../../test/support/scope.js';
import { isTwillError } from '../../util/errors.js';
import { runStoreConformance } from '../conformance.js';
import { etcdConformanceBackend } from './conformance-backend.js';
import { node, pod, rejectsWith } from '../conformance-support.js';
import { openStore } from '../index.js';
import { startEtcd, type EtcdServer } from './server.js';
import { EtcdStore } from './store.js';

const scope = new TestScope();
let server: EtcdServer;
let admin: Etcd3;
let caseNo = 0;


before(async () => {
  const dir = await scope.tmpdir('twill-etcd-');
  server = await startEtcd({ dataDir: dir, clientUrls: ['unix', 'http'] });
  scope.defer(() => server.stop());
  admin = new Etcd3({ hosts: server.endpoints[0]! });
  scope.defer(() => admin.close());
});

after(() => scope.cleanup());

runStoreConformance(
  'etcd',
  async () => {
    const prefix = `/t${process.pid}-${caseNo++}/`;
    let n = 0;
    return etcdConformanceBackend(server, admin, prefix, () => new EtcdStore({ hosts: server.endpoints[n++ % server.endpoints.length]!, prefix }));
  },
  { timeoutMs: 30_000 },
);

describe('etcd store specifics', () => {
  it('stores JSON under /<prefix>/<plural>/[<namespace>/]<name>, resourceVersion = mod revision', async () => {
    const s = new EtcdStore({ hosts: server.endpoints[0]!, prefix: '/layout/' });
    try {
      const p = await s.create(pod('default', 'web'));
      const raw = await admin.get('/layout/pods/default/web').string();
      assert.ok(raw, 'the pod is at its documented key');
      assert.equal(JSON.parse(raw).metadata.resourceVersion, undefined, 'resourceVersion is not stored');
      const res = await admin.kv.range({ key: Buffer.from('/layout/pods/default/web') });
      assert.equal(p.metadata.resourceVersion, res.kvs[0]?.mod_revision);
      assert.equal(res.kvs[0]?.lease, '0', 'not attached to any lease');
      await s.create(node('n1'));
      const ep = server.endpoints[0]!;
      await assert.rejects(s.create(node('n1')), (e: unknown) => isTwillError(e, 'EXISTS') && e.message.includes(ep));
      await s.update(p);
      await assert.rejects(s.update(p), (e: unknown) => isTwillError(e, 'CONFLICT') && e.message.includes(ep));
      assert.deepEqual(await admin.getAll().prefix('/layout/').keys(), ['/layout/pods/default/web', '/layout/twillnodes/n1']);
    } finally {
      await admin.delete().prefix('/layout/');
      await s.close();
    }
  });

  it('names the endpoint in errors; ping is false for a dead endpoint', async () => {
    const dead = 'unix:///nonexistent/twill-etcd.sock:0';
    const s = new EtcdStore({ hosts: dead, callTimeoutMs: 1_000 });
    try {
      await assert.rejects(s.get('Pod', 'a/b'), (e: unknown) => {
        assert.ok(e instanceof Error && e.message.includes(dead), String(e));
        return true;
      });
      const t0 = Date.now();
      assert.equal(await s.ping(300), false);
      assert.ok(Date.now() - t0 < 2_000, 'ping is bounded by its timeout');
    } finally {
      await s.close();
    }
  });

  it('a hung server (paused) times out with TIMEOUT, and serves again on resume', async () => {
    const s = new EtcdStore({ hosts: server.endpoints[1]!, prefix: '/pause/', callTimeoutMs: 500 });
    try {
      assert.equal(await s.ping(), true);
      server.pause();
      try {
        await rejectsWith(s.get('TwillNode', 'n1'), 'TIMEOUT');
        assert.equal(await s.ping(300), false);
      } finally {
        server.resume();
      }
      assert.equal(await s.ping(2_000), true);
    } finally {
      await s.close();
    }
  });

  it('the server manager keeps to loopback, logs in its data dir, and refuses unusable paths', async () => {
    assert.ok(existsSync(server.logFile) && server.logFile.startsWith(server.dataDir));
    assert.ok(server.pid !== undefined && server.endpoints.some((e) => e === `unix://${server.dataDir}/etcd.sock:0`));
    await rejectsWith(startEtcd({ dataDir: server.dataDir, clientUrls: ['http://0.0.0.0:2379'] }), 'CONFIG_INVALID');
    const deep = join(server.dataDir, 'x'.repeat(120));
    await rejectsWith(startEtcd({ dataDir: deep }), 'CONFIG_INVALID');
  });

  it('openStore speaks etcd:unix:// and etcd:http://', async () => {
    for (const ep of server.endpoints) {
      const s = await openStore(`etcd:${ep}`);
      try {
        assert.equal(s.name, `etcd:${ep}`);
        assert.equal(await s.ping(), true);
      } finally {
        await s.close();
      }
    }
  });
});
