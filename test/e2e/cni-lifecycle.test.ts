// CNI lifecycle end to end: the built twill-cni, run by a libcni-style runtime inside a node
// namespace, talking to a real agent; every effect checked in the kernel.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deleteNetns } from '../../src/dataplane/kernel/netns.js';
import { hostVethName } from '../../src/dataplane/kernel/names.js';
import { CniPluginError } from '../../src/lab/cni-runtime.js';
import { TestScope } from '../support/scope.js';
import { NodeHarness, resultIp } from '../support/node-harness.js';
import { startProbeServer } from '../support/probe-server.js';

const scope = new TestScope();
let node: NodeHarness;

before(async () => {
  node = await NodeHarness.start(scope, { podCidr: '10.244.1.0/24' });
});
after(() => scope.cleanup());

async function addressRecords(): Promise<string[]> {
  return (await readdir(join(node.stateDir(), 'ipam')).catch(() => [])).filter((f) => /^\d/.test(f)).sort();
}

async function hostLinkExists(name: string): Promise<boolean> {
  return node.exec(node.netns, ['ip', 'link', 'show', name]).then(() => true, () => false);
}

describe('ADD, CHECK, DEL', () => {
  test('ADD wires the pod: address, gateway, routes, host veth and route; CHECK passes', async () => {
    const pod = await node.sandbox();
    const list = node.conflist();
    const result = (await node.runtime.addNetworkList(list, pod)) as {
      cniVersion: string;
      interfaces: { name: string; mac: string; sandbox?: string }[];
      ips: { address: string; gateway: string; interface: number }[];
      routes: { dst: string; gw: string }[];
    };
    assert.equal(result.cniVersion, '1.1.0');
    const ip = resultIp(result);
    assert.match(ip, /^10\.244\.1\.\d+$/);
    assert.equal(result.ips[0]!.gateway, '169.254.1.1');
    assert.equal(result.interfaces[result.ips[0]!.interface]!.sandbox, pod.netns);
    assert.deepEqual(result.routes, [{ dst: '0.0.0.0/0', gw: '169.254.1.1' }]);

    const addr = await node.exec(pod.name, ['ip', '-j', 'addr', 'show', 'dev', 'eth0']);
    const info = JSON.parse(addr.stdout) as { addr_info: { local: string; prefixlen: number }[]; address: string }[];
    assert.ok(info[0]!.addr_info.some((a) => a.local === ip && a.prefixlen === 32));
    assert.equal(info[0]!.address, result.interfaces[1]!.mac);
    const routes = (await node.exec(pod.name, ['ip', 'route'])).stdout;
    assert.match(routes, /default via 169\.254\.1\.1 dev eth0/);
    const host = hostVethName(pod.containerId, 'eth0');
    assert.ok(await hostLinkExists(host));
    const nodeRoutes = (await node.exec(node.netns, ['ip', 'route', 'show', 'proto', '116'])).stdout;
    assert.match(nodeRoutes, new RegExp(`${ip.replace(/\./g, '\\.')} dev ${host} scope link`));
    assert.ok((await addressRecords()).includes(ip));

    await node.runtime.checkNetworkList(list, pod);

    await node.runtime.delNetworkList(list, pod);
    assert.ok(!(await hostLinkExists(host)), 'host veth removed');
    assert.ok(!(await addressRecords()).includes(ip), 'address released');
  });

  test('DEL three times succeeds; DEL of something never added succeeds', async () => {
    const pod = await node.sandbox();
    const list = node.conflist();
    const ip = resultIp(await node.runtime.addNetworkList(list, pod));
    const host = hostVethName(pod.containerId, 'eth0');
    assert.ok(await hostLinkExists(host));
    for (let i = 0; i < 3; i++) {
      await node.runtime.delNetworkList(list, pod);
      assert.ok(!(await hostLinkExists(host)), `DEL ${i + 1}: host veth gone`);
      assert.ok(!(await addressRecords()).includes(ip), `DEL ${i + 1}: address record gone`);
      const podLinks = (await node.exec(pod.name, ['ip', '-j', 'addr', 'show'])).stdout;
      assert.ok(!podLinks.includes('"eth0"') && !podLinks.includes(ip), `DEL ${i + 1}: no eth0 or address left in the pod: ${podLinks}`);
      const nodeRoutes = (await node.exec(node.netns, ['ip', 'route', 'show', 'proto', '116'])).stdout;
      assert.ok(!nodeRoutes.includes(`${ip} `), `DEL ${i + 1}: no route to ${ip} left`);
      assert.ok(!(await readdir(join(node.stateDir(), 'attachments'))).some((f) => f.startsWith(pod.containerId)), `DEL ${i + 1}: attachment record gone`);
    }
    const never = await node.sandbox();
    await node.runtime.delNetworkList(list, never);
  });

  test('DEL after the netns is gone succeeds and releases the address', async () => {
    const pod = await node.sandbox();
    const list = node.conflist();
    const ip = resultIp(await node.runtime.addNetworkList(list, pod));
    await deleteNetns(pod.name);
    await node.runtime.delNetworkList(list, pod);
    await node.runtime.delNetworkList(list, pod);
    assert.ok(!(await addressRecords()).includes(ip));
    assert.ok(!(await hostLinkExists(hostVethName(pod.containerId, 'eth0'))));
  });

  test('CHECK reports drift in the pod', async () => {
    const pod = await node.sandbox();
    const list = node.conflist();
    const ip = resultIp(await node.runtime.addNetworkList(list, pod));
    await assertDriftReported(node, pod, ip);
    await node.runtime.delNetworkList(list, pod);
  });

  test('a failed ADD leaves nothing behind (undo)', async () => {
    const pod = await node.sandbox();
    // Something already named eth0 in the pod: the veth peer cannot be created there.
    await node.exec(pod.name, ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0']);
    const before = await addressRecords();
    await assert.rejects(node.runtime.addNetworkList(node.conflist(), pod), CniPluginError);
    assert.deepEqual(await addressRecords(), before, 'no address kept');
    assert.ok(!(await hostLinkExists(hostVethName(pod.containerId, 'eth0'))), 'no host veth kept');
  });

  test('ADD for a netns that does not exist fails with code 3 and keeps nothing', async () => {
    const pod = await node.sandbox();
    await deleteNetns(pod.name);
    const before = await addressRecords();
    await assert.rejects(node.runtime.addNetworkList(node.conflist(), pod), (e: unknown) => e instanceof CniPluginError && e.cniCode === 3);
    assert.deepEqual(await addressRecords(), before);
  });

  test('ADD for a CNI_NETNS that is a plain file, not a namespace, fails with code 4 and keeps nothing', async () => {
    const pod = await node.sandbox();
    const dir = await scope.tmpdir('twill-notns-');
    const file = join(dir, 'not-a-netns');
    await writeFile(file, '');
    const before = await addressRecords();
    await assert.rejects(
      node.runtime.addNetworkList(node.conflist(), { ...pod, netns: file }),
      (e: unknown) => e instanceof CniPluginError && e.cniCode === 4 && /CNI_NETNS .* is not a network namespace/.test(e.message),
    );
    assert.deepEqual(await addressRecords(), before, 'no address kept');
    assert.ok(!(await hostLinkExists(hostVethName(pod.containerId, 'eth0'))), 'no host veth kept');
  });
});

/** The pod side as the kernel holds it, without what differs between pods or methods. */
async function podSide(h: NodeHarness, netns: string): Promise<unknown> {
  const j = async (args: string[]) => JSON.parse((await h.exec(netns, ['ip', '-j', ...args])).stdout || '[]') as Record<string, unknown>[];
  const link = (await j(['link', 'show', 'eth0']))[0]!;
  const addrs = (await j(['-4', 'addr', 'show', 'eth0']))[0]!['addr_info'] as { prefixlen: number; scope: string }[];
  const routes = (await j(['route', 'show'])).map((r) => ({ dst: r['dst'], gateway: r['gateway'], dev: r['dev'], scope: r['scope'], flags: r['flags'] }));
  const neigh = (await j(['neigh', 'show', 'dev', 'eth0'])).map((n) => ({ dst: n['dst'], lladdr: n['lladdr'], state: n['state'] }));
  return { up: (link['flags'] as string[]).includes('UP'), mtu: link['mtu'], addrs: addrs.map((a) => ({ prefixlen: a.prefixlen, scope: a.scope })), routes, neigh };
}

/** Removes the pod's default route and address behind the agent's back: CHECK must name both. */
async function assertDriftReported(h: NodeHarness, pod: Awaited<ReturnType<NodeHarness['sandbox']>>, ip: string): Promise<void> {
  await h.exec(pod.name, ['ip', 'route', 'del', 'default']);
  await h.exec(pod.name, ['ip', 'addr', 'del', `${ip}/32`, 'dev', 'eth0']);
  await assert.rejects(h.runtime.checkNetworkList(h.conflist(), pod), (e: unknown) => {
    assert.ok(e instanceof CniPluginError);
    assert.match(e.msg, /default route via 169\.254\.1\.1 dev eth0 is missing/);
    assert.match(e.msg, new RegExp(`address ${ip.replace(/\./g, '\\.')}/32 is missing on eth0`));
    return true;
  });
}

describe('pod side without in-process namespace entry', () => {
  test('with TWILL_NETNS_EXEC=1 the agent configures the pod with `ip`, and the pod ends up the same', async () => {
    const fallback = await NodeHarness.start(scope, { podCidr: '10.244.9.0/24', agentEnv: { TWILL_NETNS_EXEC: '1' } });
    const log = await readFile(join(fallback.dir, 'agent.log'), 'utf8');
    assert.match(log, /podNetns=ip-exec/, 'the agent says which method it uses');
    assert.match(log, /TWILL_NETNS_EXEC=1 is set/, 'and why');
    assert.match(await readFile(join(node.dir, 'agent.log'), 'utf8'), /podNetns=setns/);
    const a = await fallback.sandbox();
    const b = await node.sandbox();
    const ipA = resultIp(await fallback.runtime.addNetworkList(fallback.conflist(), a));
    resultIp(await node.runtime.addNetworkList(node.conflist(), b));
    assert.deepEqual(await podSide(fallback, a.name), await podSide(node, b.name));
    assert.ok(await fallback.ping(fallback.netns, ipA), 'the node reaches the pod');
    await fallback.runtime.checkNetworkList(fallback.conflist(), a);
    await assertDriftReported(fallback, a, ipA);
    await fallback.runtime.delNetworkList(fallback.conflist(), a);
  });
});

describe('pods on one node', () => {
  test('pod ↔ pod: ping and TCP both ways', async () => {
    const list = node.conflist();
    const a = await node.sandbox();
    const b = await node.sandbox();
    const ipA = resultIp(await node.runtime.addNetworkList(list, a));
    const ipB = resultIp(await node.runtime.addNetworkList(list, b));
    assert.ok(await node.ping(a.name, ipB), 'a → b ping');
    assert.ok(await node.ping(b.name, ipA), 'b → a ping');
    const srvB = await startProbeServer(scope, b.name, 'b', [8080]);
    const srvA = await startProbeServer(scope, a.name, 'a', [8080]);
    const [ab] = await srvA.probe([{ ip: ipB, port: 8080, protocol: 'tcp', timeoutMs: 2000 }]);
    const [ba] = await srvB.probe([{ ip: ipA, port: 8080, protocol: 'tcp', timeoutMs: 2000 }]);
    assert.ok(ab?.connected, `a → b tcp: ${ab?.detail}`);
    assert.match(ab.detail, new RegExp(`^b ${ipA.replace(/\./g, '\\.')}$`), 'b sees a\'s own address (no NAT between pods)');
    assert.ok(ba?.connected, `b → a tcp: ${ba?.detail}`);
    // The node reaches its pods too.
    assert.ok(await node.ping(node.netns, ipA));
    await node.runtime.delNetworkList(list, a);
    await node.runtime.delNetworkList(list, b);
  });
});

describe('GC', () => {
  test('GC with valid-attachments removes every other attachment of the network', async () => {
    const list = node.conflist();
    const pods = [await node.sandbox(), await node.sandbox(), await node.sandbox()];
    const ips = [];
    for (const p of pods) ips.push(resultIp(await node.runtime.addNetworkList(list, p)));
    await node.runtime.gcNetworkList(list, [{ containerID: pods[0]!.containerId, ifname: 'eth0' }]);
    const recs = await addressRecords();
    assert.ok(recs.includes(ips[0]!), 'the valid attachment keeps its address');
    assert.ok(!recs.includes(ips[1]!) && !recs.includes(ips[2]!), 'the others are released');
    assert.ok(await hostLinkExists(hostVethName(pods[0]!.containerId, 'eth0')));
    assert.ok(!(await hostLinkExists(hostVethName(pods[1]!.containerId, 'eth0'))));
    await node.runtime.checkNetworkList(list, pods[0]!);
    await node.runtime.delNetworkList(list, pods[0]!);
  });
});
