import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTwillError } from '../../util/errors.js';
import { node, pod } from '../conformance-support.js';
import { KeyCodec, decodeValue, encodeValue, prefixEnd } from './codec.js';

describe('etcd key and value codec', () => {
  const c = new KeyCodec();

  it('lays keys out as /twill/<plural>/[<namespace>/]<name>', () => {
    assert.equal(c.key('Pod', 'default/web').toString(), '/twill/pods/default/web');
    assert.equal(c.key('NetworkPolicy', 'ns/deny').toString(), '/twill/networkpolicies/ns/deny');
    assert.equal(c.key('Service', 'default/web').toString(), '/twill/services/default/web');
    assert.equal(c.key('EndpointSlice', 'default/web-1').toString(), '/twill/endpointslices/default/web-1');
    assert.equal(c.key('IPAMBlock', '10-244-0-0-26').toString(), '/twill/ipamblocks/10-244-0-0-26');
    assert.equal(c.objectKey(node('n1')).toString(), '/twill/twillnodes/n1');
    assert.equal(c.kindPrefix('Pod', 'a').toString(), '/twill/pods/a/');
    assert.equal(new KeyCodec('/lab1/').kindPrefix('TwillNode').toString(), '/lab1/twillnodes/');
    assert.equal(c.storeKey('Pod', Buffer.from('/twill/pods/a/p')), 'a/p');
    assert.throws(() => new KeyCodec('twill'), (e: unknown) => isTwillError(e, 'CONFIG_INVALID'));
    assert.throws(() => c.key('Pod', 'web'), (e: unknown) => isTwillError(e, 'VALIDATION'));
  });

  it('computes prefix range ends', () => {
    assert.equal(prefixEnd(Buffer.from('/twill/pods/')).toString(), '/twill/pods0');
    assert.deepEqual(prefixEnd(Buffer.from([0x61, 0xff])), Buffer.from([0x62]));
    assert.deepEqual(prefixEnd(Buffer.from([0xff])), Buffer.from([0]));
  });

  it('strips resourceVersion on write and stamps the mod revision on read', () => {
    const p = { ...pod('a', 'p'), metadata: { namespace: 'a', name: 'p', resourceVersion: '7' } };
    const raw = encodeValue(p);
    assert.equal(JSON.parse(raw.toString()).metadata.resourceVersion, undefined);
    assert.equal(p.metadata.resourceVersion, '7', 'the caller’s object is untouched');
    assert.deepEqual(decodeValue('Pod', Buffer.from('k'), raw, '42'), { ...p, metadata: { ...p.metadata, resourceVersion: '42' } });
  });

  it('refuses values that are not the expected kind', () => {
    const k = Buffer.from('/twill/pods/a/p');
    for (const v of ['not json', '{"kind":"TwillNode","metadata":{"name":"p"}}', '{"kind":"Pod","metadata":{"name":"p"}}']) {
      assert.throws(() => decodeValue('Pod', k, Buffer.from(v), '1'), (e: unknown) => isTwillError(e, 'DECODE') && e.message.includes('/twill/pods/a/p'));
    }
  });
});
