// The pod plumbing plan, golden-tested: names, MACs, the pod-side `ip` batch, the node's routes
// and the CNI result are all derived from (containerId, ifname, netns, addresses, MTU).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertGolden } from '../../../test/support/golden.js';
import { compileEndpoint, podBatch, podMac, type EndpointSpec } from './compile.js';

const golden = (name: string, value: unknown): void => assertGolden(new URL(`./testdata/${name}`, import.meta.url), JSON.stringify(value, null, 2) + '\n');
/** The plan, plus the `ip -batch` form of its pod side (the fallback when setns is unavailable). */
const planWithBatch = (spec: EndpointSpec) => {
  const plan = compileEndpoint(spec);
  return { ...plan, podBatch: podBatch(plan.pod) };
};

test('IPv4 pod: /32, link-local gateway via a permanent neighbour, host /32 route', () => {
  golden('endpoint-v4.json', planWithBatch({ containerId: 'c0ffee', ifname: 'eth0', netns: '/run/netns/pod-a', ips: ['10.244.1.5'], mtu: 1450 }));
});

test('dual-stack pod', () => {
  golden('endpoint-dual.json', planWithBatch({ containerId: 'c0ffee', ifname: 'net1', netns: '/proc/42/ns/net', ips: ['10.244.1.6', 'fd00:10:244:1::6'], mtu: 1500 }));
});

test('derived names are stable, distinct per attachment, and within IFNAMSIZ', () => {
  const a = compileEndpoint({ containerId: 'a', ifname: 'eth0', netns: '/x', ips: ['10.0.0.1'], mtu: 1500 });
  const b = compileEndpoint({ containerId: 'a', ifname: 'eth1', netns: '/x', ips: ['10.0.0.2'], mtu: 1500 });
  assert.notEqual(a.hostIface, b.hostIface);
  assert.ok(a.hostIface.length <= 15);
  assert.equal(podMac('a', 'eth0'), a.podMac);
  assert.match(a.podMac, /^02(:[0-9a-f]{2}){5}$/, 'locally administered unicast');
});
