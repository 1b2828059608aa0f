// Device parity between the Twill path and the hand path (pure part).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { linkDiffs, type LinkJson } from './bench-parity.js';

const veth = (o: Partial<LinkJson> = {}): LinkJson => ({
  ifindex: 4, ifname: 'twl0123', address: 'ee:ee:ee:ee:ee:ee', mtu: 1450, qdisc: 'noqueue', txqlen: 1000, flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
  num_tx_queues: 2, num_rx_queues: 2, gso_max_size: 65536, gso_max_segs: 65535, gro_max_size: 65536, linkinfo: { info_kind: 'veth' }, ...o,
});
const vxlan = (data: Record<string, unknown>): LinkJson => veth({ linkinfo: { info_kind: 'vxlan', info_data: { id: 4096, port: 4789, learning: false, udp_csum: true, ...data } } });

describe('linkDiffs', () => {
  test('names, indexes and MACs do not count; datapath settings do', () => {
    assert.deepEqual(linkDiffs('src host veth', veth(), veth({ ifindex: 9, ifname: 'hveth1', address: '02:00:00:00:00:01' })), []);
    assert.deepEqual(linkDiffs('src host veth', veth(), veth({ mtu: 1500, qdisc: 'fq_codel' })), [
      'src host veth mtu: twill 1450, kernel 1500',
      'src host veth qdisc: twill "noqueue", kernel "fq_codel"',
    ]);
    assert.deepEqual(linkDiffs('src pod eth0', veth(), veth({ gro_max_size: 131072 })), ['src pod eth0 gro_max_size: twill 65536, kernel 131072']);
  });

  test('VXLAN attributes are compared one by one', () => {
    assert.deepEqual(linkDiffs('src node twill0', vxlan({}), vxlan({})), []);
    assert.deepEqual(linkDiffs('src node twill0', vxlan({ learning: true }), vxlan({ udp_csum: false })), [
      'src node twill0 vxlan learning: twill true, kernel false',
      'src node twill0 vxlan udp_csum: twill true, kernel false',
    ]);
  });

  test('a device on one side only is a difference; on neither side it is not', () => {
    assert.deepEqual(linkDiffs('src node twill0', vxlan({}), undefined), ['src node twill0: present on twill path only']);
    assert.deepEqual(linkDiffs('src node twill0', undefined, undefined), []);
  });
});
