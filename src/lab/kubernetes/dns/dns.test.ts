import assert from 'node:assert/strict';
import { test } from 'node:test';
import { endpoint, service, slice } from '../../../services/fixtures.js';
import { lookup, type DnsData } from './records.js';
import { buildResponse, parseQuery, RCODE_NXDOMAIN, RCODE_OK, TYPE_A, TYPE_AAAA, TYPE_CNAME } from './wire.js';

/** A query as a resolver sends it: id 0x1234, RD set, one question. */
function query(name: string, type: number): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const q = Buffer.concat([...labels, Buffer.from([0, type >> 8, type & 0xff, 0, 1])]);
  return Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), q]);
}

const data: DnsData = {
  domain: 'cluster.local',
  services: new Map([
    ['shop/web', service('web', { clusterIP: '10.96.0.20' }, {}, 'shop')],
    ['shop/db', service('db', { clusterIP: 'None' }, {}, 'shop')],
    ['shop/ext', service('ext', { type: 'ExternalName', externalName: 'example.org.' }, {}, 'shop')],
  ]),
  slices: [slice('db', [endpoint('10.244.2.5', 'n2'), endpoint('10.244.1.5', 'n1'), endpoint('10.244.1.6', 'n1', { ready: false })], undefined, 'a', 'shop')],
};

test('lab DNS: Services by name (ClusterIP, headless, ExternalName), pods by address, nothing else', () => {
  const a = (name: string) => lookup(data, name, TYPE_A);
  assert.deepEqual(a('web.shop.svc.cluster.local'), { rcode: RCODE_OK, answers: [{ name: 'web.shop.svc.cluster.local', answer: { type: TYPE_A, ip: '10.96.0.20' } }] });
  assert.deepEqual(a('db.shop.svc.cluster.local').answers.map((x) => x.answer), [{ type: TYPE_A, ip: '10.244.1.5' }, { type: TYPE_A, ip: '10.244.2.5' }], 'headless: ready endpoints');
  assert.deepEqual(a('ext.shop.svc.cluster.local').answers.map((x) => x.answer), [{ type: TYPE_CNAME, target: 'example.org' }]);
  assert.deepEqual(a('10-244-1-5.shop.pod.cluster.local').answers.map((x) => x.answer), [{ type: TYPE_A, ip: '10.244.1.5' }]);
  assert.deepEqual(lookup(data, 'web.shop.svc.cluster.local', TYPE_AAAA), { rcode: RCODE_OK, answers: [] }, 'IPv6: no data, not an error');
  for (const n of ['web.other.svc.cluster.local', 'web.shop.svc.cluster.local.shop.svc.cluster.local', 'example.org', 'x.shop.pod.cluster.local']) assert.equal(a(n).rcode, RCODE_NXDOMAIN, n);
});

test('lab DNS wire: a query parses, the response carries the question and the answers', () => {
  const q = parseQuery(query('Web.shop.svc.cluster.local', TYPE_A))!;
  assert.deepEqual([q.id, q.name, q.type, q.class, q.recursionDesired], [0x1234, 'web.shop.svc.cluster.local', TYPE_A, 1, true]);
  const r = buildResponse(q, RCODE_OK, lookup(data, q.name, q.type).answers);
  assert.deepEqual([r.readUInt16BE(0), r.readUInt16BE(2) & 0x800f, r.readUInt16BE(4), r.readUInt16BE(6)], [0x1234, 0x8000, 1, 1]);
  assert.deepEqual([...r.subarray(r.length - 4)], [10, 96, 0, 20], 'the A record\'s address ends the message');
  assert.equal(parseQuery(Buffer.from([1, 2, 3])), undefined);
  assert.equal(parseQuery(r), undefined, 'a response is not a query');
});

test('control-plane routes: one per IPAM block, via the node holding it', async () => {
  const { podRoutes } = await import('../pod-routes.js');
  assert.deepEqual([...podRoutes([{ spec: { underlayIP: '192.0.2.11', blocks: ['10.244.1.0/26', '10.244.1.64/26'] } }, { spec: { underlayIP: '192.0.2.12', blocks: ['10.244.2.0/26'] } }])], [
    ['10.244.1.0/26', '192.0.2.11'], ['10.244.1.64/26', '192.0.2.11'], ['10.244.2.0/26', '192.0.2.12'],
  ]);
});
