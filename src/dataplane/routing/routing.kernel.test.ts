// Routing and NAT on a real kernel, with real traffic between pod namespaces (see
// testing/topology.ts for the world). Tests run in order and each applies the state it needs;
// together they walk vxlan → host-gw → vxlan → vxlan+directRouting. Needs root.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { TestScope } from '../../../test/support/scope.js';
import { run } from '../kernel/exec.js';
import { ipJsonInNetns } from '../kernel/netns.js';
import type { NatSnapshot } from '../nat/index.js';
import { NodeFixture, type ApplyResult } from './testing/fixture-client.js';
import { NODES, OUTSIDE_IP, UNDERLAY_MTU, buildWorld, type World } from './testing/topology.js';
import type { PeerNode, RoutingConfig, RoutingSnapshot } from './types.js';
import { vtepIp, vtepMac } from './vxlan/vtep.js';

const isRoot = process.getuid?.() === 0;
const VXLAN: RoutingConfig = { backend: 'vxlan', vxlan: { vni: 4096, port: 4789, directRouting: false } };
const HOST_GW: RoutingConfig = { ...VXLAN, backend: 'host-gw' };
const DIRECT: RoutingConfig = { ...VXLAN, vxlan: { ...VXLAN.vxlan, directRouting: true } };
const NAT_ON: NatSnapshot = { enabled: true, pools: ['10.244.0.0/16'] };

const podIp = (pod: string): string => NODES.flatMap((n) => n.pods).find((p) => p.name === pod)!.ip;

function snapshotFor(node: string, config: RoutingConfig, peers = NODES.map((n) => n.name)): RoutingSnapshot {
  const self = NODES.find((n) => n.name === node)!;
  const peerNodes = NODES.filter((n) => n.name !== node && peers.includes(n.name)).map(
    (n): PeerNode => ({
      name: n.name,
      underlayIP: n.ip,
      underlayCIDR: n.cidr,
      backend: config.backend,
      blocks: [n.block],
      ...(config.backend === 'vxlan' ? { vtepMAC: vtepMac(n.name), vtepIP: vtepIp([n.block]) } : {}),
    }),
  );
  return {
    self: { name: self.name, underlayIP: self.ip, underlayCIDR: self.cidr, underlayIface: 'eth0', underlayMTU: UNDERLAY_MTU, blocks: [self.block] },
    peers: peerNodes,
    config,
  };
}

describe('routing backends on a real kernel', { skip: isRoot ? false : 'needs root (network namespaces)' }, () => {
  const scope = new TestScope();
  let world: World;
  const fixtures = new Map<string, NodeFixture>();

  const runDir = (node: string): string => `${world.scratch}/run-${node}`;
  const ns = (name: string): string => (world.pods.get(name) ?? world.nodes.get(name) ?? (name === 'ul' ? world.ul : undefined))!.name;

  async function applyAll(config: RoutingConfig, nat?: NatSnapshot): Promise<Map<string, ApplyResult>> {
    const results = await Promise.all(NODES.map((n) => fixtures.get(n.name)!.apply(snapshotFor(n.name, config), runDir(n.name), nat)));
    return new Map(NODES.map((n, i) => [n.name, results[i]!]));
  }

  /** One ping, bounded to ~1 s; `tries` > 1 only where success is expected. */
  async function ping(from: string, to: string, opts: { size?: number; tries?: number } = {}): Promise<boolean> {
    const size = opts.size === undefined ? [] : ['-M', 'do', '-s', String(opts.size)];
    for (let i = 0; i < (opts.tries ?? 3); i++) {
      const ok = await run('ip', ['netns', 'exec', ns(from), 'ping', '-n', '-q', '-c', '1', '-W', '1', ...size, to]).then(
        () => true,
        () => false,
      );
      if (ok) return true;
    }
    return false;
  }

  async function assertMesh(pairs: [string, string][]): Promise<void> {
    for (const [a, b] of pairs) assert.ok(await ping(a, podIp(b)), `${a} → ${b} (${podIp(b)}) answers`);
  }

  /** A TCP server that answers each connection with the address it saw, then closes. */
  async function peerReporter(where: string, host: string, port: number): Promise<void> {
    const code = `require('net').createServer((s) => s.end(s.remoteAddress + '\\n')).listen(${port}, '${host}', () => console.log('ready'))`;
    const child = scope.spawn('ip', ['netns', 'exec', ns(where), process.execPath, '-e', code]);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`reporter in ${where} did not start`)), 5000);
      child.stdout!.once('data', () => (clearTimeout(t), resolve()));
    });
  }

  async function seenSource(from: string, host: string, port: number, timeoutSec = 3): Promise<string> {
    const { stdout } = await run('ip', ['netns', 'exec', ns(from), 'timeout', String(timeoutSec), 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}; cat <&3`]);
    return stdout.trim();
  }

  async function twill0TxPackets(node: string): Promise<number> {
    const [l] = await ipJsonInNetns<{ stats64: { tx: { packets: number } } }[]>(world.nodes.get(node)!.path, ['-s', 'link', 'show', 'twill0']);
    return l!.stats64.tx.packets;
  }

  async function hasLink(node: string, name: string): Promise<boolean> {
    const links = await ipJsonInNetns<{ ifname: string }[]>(world.nodes.get(node)!.path, ['link', 'show']);
    return links.some((l) => l.ifname === name);
  }

  async function podRoutes(node: string): Promise<string[]> {
    const routes = await ipJsonInNetns<{ dst: string; dev?: string }[]>(world.nodes.get(node)!.path, ['route', 'show', 'proto', '116']);
    return routes.filter((r) => r.dev?.startsWith('twl')).map((r) => r.dst);
  }

  before(async () => {
    world = await buildWorld(scope);
    for (const n of NODES) fixtures.set(n.name, NodeFixture.start(scope, n.name, world.nodes.get(n.name)!.name));
  });

  after(async () => {
    await scope.cleanup();
  });

  test('vxlan: pods on all three nodes reach each other, across the router too; pod MTU is underlay − 50', async () => {
    const r = await applyAll(VXLAN);
    for (const [node, res] of r) {
      assert.deepEqual(res.peerErrors, [], node);
      assert.equal(res.podMTU, UNDERLAY_MTU - 50);
      assert.ok(res.summary.added > 0, `${node} added its objects`);
    }
    await assertMesh([['a1', 'b1'], ['a1', 'c1'], ['b1', 'c1'], ['c1', 'a2'], ['b1', 'a2']]);
    // 1422 + 28 = 1450 bytes: exactly the pod MTU, carried whole (DF set) through VXLAN.
    assert.ok(await ping('a1', podIp('c1'), { size: 1422 }), 'a full-MTU packet crosses VXLAN unfragmented');
    const a = await fixtures.get('node-a')!.read();
    assert.equal(a.device?.mtu, UNDERLAY_MTU - 50);
    assert.deepEqual(a.device?.addresses, ['10.244.1.0/32']);
    assert.equal(a.device?.mac, vtepMac('node-a'));
    assert.deepEqual(
      a.routes.map((x) => `${x.type} ${x.dst} ${x.gateway ?? ''} ${x.dev ?? ''} ${x.onlink ? 'onlink' : ''}`.trim()),
      ['blackhole 10.244.1.0/26', 'unicast 10.244.2.0/26 10.244.2.0 twill0 onlink', 'unicast 10.244.3.0/26 10.244.3.0 twill0 onlink'],
    );
    assert.deepEqual(await podRoutes('node-a'), ['10.244.1.10', '10.244.1.11'], 'pod routes (proto 116 via twl…) are left alone');
  });

  test('vxlan: applying the same state again changes nothing', async () => {
    for (const [node, res] of await applyAll(VXLAN)) {
      assert.deepEqual({ ...res.summary, actions: [] }, { added: 0, removed: 0, changed: 0, actions: [] }, `${node}: ${res.summary.actions.join('; ')}`);
    }
  });

  test('stale Twill routes left by an earlier run are removed; pod routes stay', async () => {
    const node = ns('node-a');
    await run('ip', ['-n', node, 'route', 'add', '10.244.9.0/26', 'dev', 'eth0', 'proto', '116', 'scope', 'link']);
    await run('ip', ['-n', node, 'route', 'add', '10.244.8.0/26', 'via', '192.0.2.12', 'proto', '116']);
    await run('ip', ['-n', node, 'route', 'add', '10.244.7.0/26', 'via', '192.0.2.12', 'proto', 'static']);
    const res = await fixtures.get('node-a')!.apply(snapshotFor('node-a', VXLAN), runDir('node-a'));
    assert.equal(res.summary.removed, 2, res.summary.actions.join('; '));
    assert.equal(res.summary.actions.length, 2);
    const { stdout } = await run('ip', ['-n', node, 'route', 'show']);
    assert.doesNotMatch(stdout, /10\.244\.[89]\.0/);
    assert.match(stdout, /10\.244\.7\.0\/26 via 192\.0\.2\.12 dev eth0 proto static/, 'a route Twill does not own is left alone');
    assert.deepEqual(await podRoutes('node-a'), ['10.244.1.10', '10.244.1.11']);
    await run('ip', ['-n', node, 'route', 'del', '10.244.7.0/26']);
  });

  test('own block: an unallocated address is blackholed, not sent to the default route', async () => {
    const { stdout } = await run('ip', ['-n', ns('node-a'), 'route', 'show', 'proto', '116', 'type', 'blackhole']);
    assert.match(stdout, /blackhole 10\.244\.1\.0\/26/);
    await assert.rejects(run('ip', ['-n', ns('node-a'), 'route', 'get', '10.244.1.50']), /Invalid argument|No route|blackhole/i);
  });

  test('host-gw: same-segment nodes route directly, node-c is refused with a clear error, twill0 is gone', async () => {
    const r = await applyAll(HOST_GW);
    const errA = r.get('node-a')!.peerErrors;
    assert.equal(errA.length, 1);
    assert.equal(errA[0]!.peer, 'node-c');
    for (const s of ['192.0.2.139', '192.0.2.11', 'vxlan', 'directRouting']) assert.ok(errA[0]!.reason.includes(s), `reason names ${s}: ${errA[0]!.reason}`);
    assert.deepEqual(r.get('node-c')!.peerErrors.map((e) => e.peer), ['node-a', 'node-b']);
    assert.equal(r.get('node-a')!.podMTU, UNDERLAY_MTU);
    const sa = r.get('node-a')!.summary;
    assert.equal(sa.changed, 1, `node-b's route is replaced in place: ${sa.actions.join('; ')}`);
    assert.equal(sa.actions.at(-1), 'delete twill0 (and its 4 neighbour/FDB entries)', 'twill0 goes last');
    for (const n of NODES) assert.equal(await hasLink(n.name, 'twill0'), false, `${n.name} has no twill0`);
    await assertMesh([['a1', 'b1'], ['b1', 'a2']]);
    assert.equal(await ping('a1', podIp('c1'), { tries: 1 }), false, 'node-c is unreachable under host-gw');
    const a = await fixtures.get('node-a')!.read();
    assert.deepEqual(
      a.routes.map((x) => `${x.dst} ${x.gateway ?? ''} ${x.dev ?? ''}`.trim()),
      ['10.244.1.0/26', '10.244.2.0/26 192.0.2.12 eth0'],
    );
    assert.deepEqual(await podRoutes('node-a'), ['10.244.1.10', '10.244.1.11']);
  });

  test('back to vxlan: twill0 returns with the same MAC and every pod reaches every other', async () => {
    const r = await applyAll(VXLAN);
    assert.deepEqual(r.get('node-a')!.peerErrors, []);
    assert.equal((await fixtures.get('node-a')!.read()).device?.mac, vtepMac('node-a'));
    await assertMesh([['a1', 'b1'], ['a1', 'c1'], ['c1', 'b1']]);
  });

  test('vxlan + directRouting: node-b is reached directly, node-c through VXLAN', async () => {
    await applyAll(DIRECT);
    const a = await fixtures.get('node-a')!.read();
    assert.deepEqual(
      a.routes.filter((x) => x.type === 'unicast').map((x) => `${x.dst} ${x.gateway ?? ''} ${x.dev ?? ''}`),
      ['10.244.2.0/26 192.0.2.12 eth0', '10.244.3.0/26 10.244.3.0 twill0'],
    );
    assert.deepEqual(a.neighbors.map((n) => n.ip), ['10.244.3.0'], 'only node-c needs a VTEP neighbour');
    const tx0 = await twill0TxPackets('node-a');
    await assertMesh([['a1', 'b1']]);
    const tx1 = await twill0TxPackets('node-a');
    assert.equal(tx1, tx0, 'a1 → b1 does not touch twill0');
    await assertMesh([['a1', 'c1']]);
    assert.ok((await twill0TxPackets('node-a')) > tx1, 'a1 → c1 leaves through twill0');
    for (const [node, res] of await applyAll(DIRECT)) assert.equal(res.summary.actions.length, 0, `${node} second apply`);
  });

  test('a removed peer: its route, neighbour and FDB entry are withdrawn', async () => {
    await applyAll(VXLAN);
    const fx = fixtures.get('node-a')!;
    const res = await fx.apply(snapshotFor('node-a', VXLAN, ['node-b']), runDir('node-a'));
    assert.deepEqual({ ...res.summary, actions: [] }, { added: 0, removed: 3, changed: 0, actions: [] }, res.summary.actions.join('; '));
    const a = await fx.read();
    assert.ok(!a.routes.some((x) => x.dst === '10.244.3.0/26'));
    assert.ok(!a.neighbors.some((n) => n.ip === '10.244.3.0'));
    assert.ok(!a.fdb.some((f) => f.mac === vtepMac('node-c')));
    assert.equal(await ping('a1', podIp('c1'), { tries: 1 }), false);
    await assertMesh([['a1', 'b1']]);
    await fx.apply(snapshotFor('node-a', VXLAN), runDir('node-a'));
    await assertMesh([['a1', 'c1']]);
  });

  test('a changed VNI re-creates twill0 (only then) and traffic resumes', async () => {
    const vni = { ...VXLAN, vxlan: { ...VXLAN.vxlan, vni: 4097 } };
    for (const [node, res] of await applyAll(vni)) {
      assert.match(res.summary.actions[0] ?? '', /^re-create \(VNI 4096 → 4097\)/, node);
    }
    const [l] = await ipJsonInNetns<{ linkinfo: { info_data: { id: number } } }[]>(world.nodes.get('node-a')!.path, ['-d', 'link', 'show', 'twill0']);
    assert.equal(l!.linkinfo.info_data.id, 4097);
    await assertMesh([['a1', 'b1'], ['a1', 'c1']]);
  });

  test('NAT: leaving the pool is masqueraded to the node address; pod to pod keeps the pod address', async () => {
    const r = await applyAll(VXLAN, NAT_ON);
    assert.ok([...r.values()].every((x) => x.natChanged === true));
    assert.match(await readFile(`${runDir('node-a')}/nft/twill-nat.nft`, 'utf8'), /masquerade/, 'the applied script is kept under the run dir');
    await peerReporter('ul', OUTSIDE_IP, 8080);
    await peerReporter('b1', podIp('b1'), 8080);
    await peerReporter('a2', podIp('a2'), 8080);
    assert.equal(await seenSource('a1', OUTSIDE_IP, 8080), '192.0.2.11', 'outside sees node-a');
    assert.equal(await seenSource('c1', OUTSIDE_IP, 8080), '192.0.2.139', 'outside sees node-c (through the router)');
    assert.equal(await seenSource('a1', podIp('b1'), 8080), podIp('a1'), 'across nodes the pod address is kept');
    assert.equal(await seenSource('a1', podIp('a2'), 8080), podIp('a1'), 'on one node the pod address is kept');
    assert.ok([...(await applyAll(VXLAN, NAT_ON)).values()].every((x) => x.natChanged === false), 'unchanged NAT is not re-applied');
    // Without NAT the outside host has no route back to the pool: the connection fails.
    await applyAll(VXLAN, { ...NAT_ON, enabled: false });
    await assert.rejects(seenSource('a1', OUTSIDE_IP, 8080, 1));
    const { stdout } = await run('ip', ['netns', 'exec', ns('node-a'), 'nft', 'list', 'tables']);
    assert.doesNotMatch(stdout, /twill-nat/);
  });
});
