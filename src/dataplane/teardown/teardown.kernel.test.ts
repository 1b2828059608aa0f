// teardownNode on a real kernel, in a namespace the test makes: it removes Twill's routes, links
// and nftables tables and leaves a neighbour's alone. Needs root.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, test } from 'node:test';
import { TestScope } from '../../../test/support/scope.js';
import { HOST_VETH_PREFIX, NFT_TABLE_FLOWS, NFT_TABLE_NAT, NFT_TABLE_POLICY, ROUTE_PROTOCOL, VXLAN_DEVICE } from '../kernel/names.js';

const isRoot = process.getuid?.() === 0;
const scope = new TestScope();
after(() => scope.cleanup());

function inNs(path: string, cmd: string): string {
  return execFileSync('nsenter', [`--net=${path}`, '--', 'sh', '-ec', cmd], { encoding: 'utf8' });
}

function teardownIn(path: string): { links: string[]; routes: string[]; nftTables: string[] } {
  const mod = JSON.stringify(new URL('./index.ts', import.meta.url).pathname);
  const out = execFileSync('nsenter', [`--net=${path}`, '--', process.execPath, '--import', 'tsx', '--input-type=module', '-e',
  `const m = await import(${mod}); console.log(JSON.stringify(await m.teardownNode()));`], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as { links: string[]; routes: string[]; nftTables: string[] };
}

test('kd teardownNode removes what Twill owns and only that', { skip: !isRoot && 'needs root' }, async () => {
  const p = (await scope.netns('kd-td-')).path;
  inNs(p, [
  'ip link set lo up',
  `ip link add ${HOST_VETH_PREFIX}kdtest0 type veth peer name kdpeer0`,
  'ip link add kdother0 type veth peer name kdother1',
  `ip link add ${VXLAN_DEVICE} type vxlan id 4096 dstport 4789 nolearning`,
  `ip link set ${HOST_VETH_PREFIX}kdtest0 up`, `ip link set ${VXLAN_DEVICE} up`, 'ip link set kdother0 up',
  `ip route add 10.244.1.5/32 dev ${HOST_VETH_PREFIX}kdtest0 proto ${ROUTE_PROTOCOL} scope link`,
  `ip route add 10.244.2.0/26 dev kdother0 proto ${ROUTE_PROTOCOL} scope link`,
  'ip route add 10.99.0.0/24 dev kdother0 scope link',
  `nft add table inet ${NFT_TABLE_POLICY}`, `nft add table inet ${NFT_TABLE_NAT}`, 'nft add table inet kd-foreign',
  // Flow records' table, and the sysctl they set with it (src/flows/ct-events.ts).
  `nft add table inet ${NFT_TABLE_FLOWS}`, 'echo 0 > /proc/sys/net/netfilter/nf_conntrack_events',
  ].join('\n'));
  const rep = teardownIn(p);
  assert.deepEqual(rep.links.sort(), [`${HOST_VETH_PREFIX}kdtest0`, VXLAN_DEVICE].sort());
  assert.deepEqual(rep.nftTables.sort(), [`inet ${NFT_TABLE_FLOWS}`, `inet ${NFT_TABLE_NAT}`, `inet ${NFT_TABLE_POLICY}`]);
  assert.equal(inNs(p, 'cat /proc/sys/net/netfilter/nf_conntrack_events').trim(), '2', 'the kernel default is back');
  assert.ok(rep.routes.includes('10.244.2.0/26'), JSON.stringify(rep));
  const links = inNs(p, 'ip -o link show');
  assert.doesNotMatch(links, new RegExp(`${HOST_VETH_PREFIX}kdtest0|${VXLAN_DEVICE}`));
  assert.match(links, /kdother0/);
  const routes = inNs(p, 'ip route show; ip -6 route show');
  assert.doesNotMatch(routes, new RegExp(`proto ${ROUTE_PROTOCOL}\\b|10\\.244\\.`));
  assert.match(routes, /10\.99\.0\.0\/24/);
  const tables = inNs(p, 'nft list tables');
  assert.doesNotMatch(tables, /twill-/);
  assert.match(tables, /kd-foreign/);
  // A second run finds nothing to do.
  assert.deepEqual(teardownIn(p), { links: [], routes: [], nftTables: [] });
});
