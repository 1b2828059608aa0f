import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTwillError } from '../util/errors.js';
import { assertGolden } from '../../test/support/golden.js';
import { SUPPORTED_VERSIONS, type CniResult } from './types.js';
import { compareVersions, encodeResult, negotiateVersion, parseResult } from './version.js';

const TESTDATA = new URL('./testdata/', import.meta.url);

/** Compares against testdata/NAME; UPDATE_GOLDEN=1 rewrites the file instead. */
function golden(name: string, value: unknown): void {
  assertGolden(new URL(name, TESTDATA), JSON.stringify(value, null, 2) + '\n');
}

/** A dual-stack pod attachment using every 1.1.0 field. */
const RESULT: CniResult = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'twl538f587a236', mac: 'ee:ee:ee:ee:ee:ee', mtu: 1450 },
    { name: 'eth0', mac: '0a:58:0a:f4:01:05', mtu: 1450, sandbox: '/run/netns/pod-a', socketPath: '/run/vhost/pod-a.sock', pciID: '0000:00:1f.6' },
  ],
  ips: [
    { address: '10.244.1.5/32', gateway: '169.254.1.1', interface: 1 },
    { address: 'fd00:10:244:1::5/128', gateway: 'fe80::1', interface: 1 },
  ],
  routes: [
    { dst: '0.0.0.0/0', gw: '169.254.1.1', mtu: 1450, advmss: 1410, priority: 10, table: 254, scope: 0 },
    { dst: '::/0', gw: 'fe80::1' },
  ],
  dns: { nameservers: ['10.96.0.10'], domain: 'cluster.local', search: ['default.svc.cluster.local'], options: ['ndots:5'] },
};

describe('encodeResult', () => {
  for (const v of SUPPORTED_VERSIONS) {
    it(`encodes the sample result for ${v} (golden)`, () => golden(`result-${v}.json`, encodeResult(RESULT, v)));
  }

  it('leaves out empty lists and an empty dns', () => {
    assert.deepEqual(encodeResult({ cniVersion: '1.1.0', interfaces: [], ips: [], dns: {} }, '1.0.0'), { cniVersion: '1.0.0' });
  });

  it('refuses to encode an address that is not a CIDR for versions that need its family', () => {
    const bad: CniResult = { cniVersion: '1.1.0', ips: [{ address: '10.0.0.1' }] };
    assert.throws(() => encodeResult(bad, '0.4.0'), (e) => isTwillError(e, 'INTERNAL'));
  });
});

describe('parseResult', () => {
  for (const v of SUPPORTED_VERSIONS) {
    it(`reads back what encodeResult wrote for ${v}`, () => {
      const back = parseResult(encodeResult(RESULT, v), v);
      // Down-conversion loses the 1.1.0 extras; everything else must survive the round trip.
      const expected = v === '1.1.0' ? RESULT : encodeResultFields(RESULT);
      assert.deepEqual(back, expected);
    });
  }

  it('uses the config version when a pre-1.0 result omits its own', () => {
    const raw = { ips: [{ version: '4', address: '10.244.1.5/32' }] };
    assert.deepEqual(parseResult(raw, '0.3.1'), { cniVersion: '1.1.0', ips: [{ address: '10.244.1.5/32' }] });
  });

  it('ignores keys the result version does not define', () => {
    const raw = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mtu: 'not a number' }], routes: [{ dst: '0.0.0.0/0', table: 'x' }] };
    assert.deepEqual(parseResult(raw, '1.0.0'), { cniVersion: '1.1.0', interfaces: [{ name: 'eth0' }], routes: [{ dst: '0.0.0.0/0' }] });
  });

  const bad: [string, unknown, string][] = [
    ['not an object', [], '"prevResult" must be an object'],
    ['interfaces not a list', { interfaces: {} }, '"prevResult.interfaces" must be a list'],
    ['interface without name', { interfaces: [{}] }, '"prevResult.interfaces[0].name"'],
    ['address not CIDR', { ips: [{ address: '10.0.0.1' }] }, '"prevResult.ips[0].address"'],
    ['gateway not an IP', { ips: [{ address: '10.0.0.1/24', gateway: 'router' }] }, '"prevResult.ips[0].gateway"'],
    ['interface index out of range', { interfaces: [{ name: 'eth0' }], ips: [{ address: '10.0.0.1/24', interface: 1 }] }, '"prevResult.ips[0].interface"'],
    ['ip version disagrees with address', { cniVersion: '0.4.0', ips: [{ version: '6', address: '10.0.0.1/24' }] }, '"prevResult.ips[0].version"'],
    ['route dst missing', { routes: [{ gw: '10.0.0.1' }] }, '"prevResult.routes[0].dst"'],
    ['route mtu negative', { routes: [{ dst: '0.0.0.0/0', mtu: -1 }] }, '"prevResult.routes[0].mtu"'],
    ['dns nameserver not an IP', { dns: { nameservers: ['ns1'] } }, '"prevResult.dns.nameservers[0]"'],
  ];
  for (const [name, raw, msg] of bad) {
    it(`rejects ${name}, naming the field`, () => {
      assert.throws(
        () => parseResult(raw, '1.1.0'),
        (e) => isTwillError(e, 'CONFIG_INVALID') && e.message.includes(msg),
      );
    });
  }

  it('rejects a result version it cannot read with VERSION_INCOMPATIBLE', () => {
    assert.throws(() => parseResult({ cniVersion: '0.2.0' }, '1.1.0'), (e) => isTwillError(e, 'VERSION_INCOMPATIBLE') && e.message.includes('0.2.0'));
  });
});

/** RESULT without the fields only 1.1.0 has. */
function encodeResultFields(r: CniResult): CniResult {
  return {
    cniVersion: '1.1.0',
    interfaces: r.interfaces!.map(({ name, mac, sandbox }) => ({ name, ...(mac && { mac }), ...(sandbox && { sandbox }) })),
    ips: r.ips!,
    routes: r.routes!.map(({ dst, gw }) => ({ dst, ...(gw && { gw }) })),
    dns: r.dns!,
  };
}

describe('negotiateVersion', () => {
  it('accepts every supported version for ADD and DEL', () => {
    for (const v of SUPPORTED_VERSIONS) {
      assert.equal(negotiateVersion(v, 'ADD'), v);
      assert.equal(negotiateVersion(v, 'DEL'), v);
    }
  });

  it('knows which version introduced each command', () => {
    assert.throws(() => negotiateVersion('0.3.1', 'CHECK'), (e) => isTwillError(e, 'VERSION_INCOMPATIBLE') && e.message.includes('CHECK needs 0.4.0'));
    assert.equal(negotiateVersion('0.4.0', 'CHECK'), '0.4.0');
    for (const cmd of ['GC', 'STATUS'] as const) {
      assert.throws(() => negotiateVersion('1.0.0', cmd), (e) => isTwillError(e, 'VERSION_INCOMPATIBLE') && e.message.includes(`${cmd} needs 1.1.0`));
      assert.equal(negotiateVersion('1.1.0', cmd), '1.1.0');
    }
  });

  it('reads a missing or empty version as 0.1.0 and lists what it supports', () => {
    for (const v of [undefined, '']) {
      assert.throws(() => negotiateVersion(v, 'ADD'), (e) => isTwillError(e, 'VERSION_INCOMPATIBLE') && e.message.includes('0.1.0') && e.message.includes('0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0'));
    }
  });

  it('rejects unknown versions with the supported list, and non-strings as a config error', () => {
    for (const v of ['0.2.0', '1.2.0', '1.0', 'latest']) {
      assert.throws(() => negotiateVersion(v), (e) => isTwillError(e, 'VERSION_INCOMPATIBLE') && e.message.includes(`"${v}"`) && e.message.includes('supported: 0.3.0'));
    }
    assert.throws(() => negotiateVersion(1.1), (e) => isTwillError(e, 'CONFIG_INVALID') && e.message.includes('"cniVersion"'));
  });

  it('orders versions numerically', () => {
    assert.equal(compareVersions('0.10.0', '0.4.0'), 1);
    assert.equal(compareVersions('1.0.0', '1.0'), 0);
    assert.equal(compareVersions('0.3.1', '0.4.0'), -1);
  });
});
