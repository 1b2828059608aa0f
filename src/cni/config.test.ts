import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTwillError } from '../util/errors.js';
import { parseNetConf } from './config.js';

const BASE = { cniVersion: '1.1.0', name: 'twill', type: 'twill-cni' };

function rejects(raw: Record<string, unknown>, field: string, command: Parameters<typeof parseNetConf>[1] = 'ADD'): void {
  assert.throws(
    () => parseNetConf(raw, command),
    (e) => isTwillError(e, 'CONFIG_INVALID') && e.message.includes(`"${field}"`),
    `expected CONFIG_INVALID naming "${field}"`,
  );
}

describe('parseNetConf', () => {
  it('fills the defaults for a minimal config', () => {
    assert.deepEqual(parseNetConf(BASE, 'ADD'), { ...BASE, agentSocket: '/run/twill/agent.sock' });
  });

  it('reads every key it knows and ignores the rest', () => {
    const conf = parseNetConf(
      {
        ...BASE,
        agentSocket: '/run/twill-lab/n1/agent.sock',
        mtu: 1400,
        ipam: { type: 'twill', pool: 'default' },
        runtimeConfig: { portMappings: [] },
        args: { cni: { labels: [] } },
        capabilities: { portMappings: true },
        dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] },
        prevResult: { cniVersion: '1.1.0', ips: [{ address: '10.244.0.5/32' }] },
        somethingElse: { anything: 1 },
      },
      'ADD',
    );
    assert.equal(conf.agentSocket, '/run/twill-lab/n1/agent.sock');
    assert.equal(conf.mtu, 1400);
    assert.deepEqual(conf.ipam, { type: 'twill', pool: 'default' });
    assert.deepEqual(conf.capabilities, { portMappings: true });
    assert.deepEqual(conf.dns, { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] });
    assert.deepEqual(conf.prevResult, { cniVersion: '1.1.0', ips: [{ address: '10.244.0.5/32' }] });
    assert.equal('somethingElse' in conf, false);
  });

  it('says exactly what is wrong with the mtu', () => {
    assert.throws(
      () => parseNetConf({ ...BASE, mtu: 'abc' }, 'ADD'),
      { message: 'network config field "mtu" must be an integer between 576 and 9000, got "abc"' },
    );
    for (const mtu of [575, 9001, 1500.5, true]) rejects({ ...BASE, mtu }, 'mtu');
    for (const mtu of [576, 9000]) assert.equal(parseNetConf({ ...BASE, mtu }, 'ADD').mtu, mtu);
  });

  it('names the field for every wrong type or value', () => {
    rejects({ cniVersion: '1.1.0', type: 'twill-cni' }, 'name');
    rejects({ ...BASE, name: 42 }, 'name');
    rejects({ ...BASE, name: '-starts-with-dash' }, 'name');
    rejects({ ...BASE, name: 'has/slash' }, 'name');
    rejects({ cniVersion: '1.1.0', name: 'twill' }, 'type');
    rejects({ ...BASE, type: ['twill-cni'] }, 'type');
    rejects({ ...BASE, agentSocket: 'run/agent.sock' }, 'agentSocket');
    rejects({ ...BASE, agentSocket: 7 }, 'agentSocket');
    rejects({ ...BASE, agentSocket: `/${'a'.repeat(107)}` }, 'agentSocket');
    rejects({ ...BASE, ipam: 'twill' }, 'ipam');
    rejects({ ...BASE, runtimeConfig: [] }, 'runtimeConfig');
    rejects({ ...BASE, args: 'K=V' }, 'args');
    rejects({ ...BASE, capabilities: { portMappings: 'yes' } }, 'capabilities.portMappings');
    rejects({ ...BASE, dns: ['10.96.0.10'] }, 'dns');
    rejects({ ...BASE, dns: { nameservers: '10.96.0.10' } }, 'dns.nameservers');
    rejects({ ...BASE, dns: { domain: 5 } }, 'dns.domain');
    rejects({ ...BASE, prevResult: 'x' }, 'prevResult');
    rejects({ ...BASE, cniVersion: 1 }, 'cniVersion');
  });

  it('treats JSON null as absent, as Go decoders do', () => {
    assert.deepEqual(parseNetConf({ ...BASE, mtu: null, ipam: null, dns: null, prevResult: null }, 'ADD'), { ...BASE, agentSocket: '/run/twill/agent.sock' });
  });

  it('refuses another IPAM plugin and says why', () => {
    for (const ipam of [{ type: 'host-local', subnet: '10.1.0.0/16' }, {}]) {
      assert.throws(
        () => parseNetConf({ ...BASE, ipam }, 'ADD'),
        (e) => isTwillError(e, 'CONFIG_INVALID') && e.message.includes('"ipam.type"') && e.message.includes('Twill allocates pod addresses itself'),
      );
    }
  });

  it('requires prevResult for CHECK only', () => {
    rejects(BASE, 'prevResult', 'CHECK');
    assert.ok(parseNetConf({ ...BASE, prevResult: { cniVersion: '1.1.0' } }, 'CHECK').prevResult);
    assert.equal(parseNetConf(BASE, 'DEL').prevResult, undefined);
  });

  it('reads and validates GC valid-attachments (and the legacy key)', () => {
    const list = [{ containerID: 'abc123', ifname: 'eth0' }];
    assert.deepEqual(parseNetConf({ ...BASE, 'cni.dev/valid-attachments': list }, 'GC').validAttachments, list);
    assert.deepEqual(parseNetConf({ ...BASE, 'cni.dev/attachments': list }, 'GC').validAttachments, list);
    assert.equal(parseNetConf({ ...BASE, 'cni.dev/valid-attachments': null }, 'GC').validAttachments, undefined);
    assert.deepEqual(parseNetConf({ ...BASE, 'cni.dev/valid-attachments': [] }, 'GC').validAttachments, []);
    rejects({ ...BASE, 'cni.dev/valid-attachments': {} }, 'cni.dev/valid-attachments', 'GC');
    rejects({ ...BASE, 'cni.dev/valid-attachments': ['abc'] }, 'cni.dev/valid-attachments[0]', 'GC');
    rejects({ ...BASE, 'cni.dev/valid-attachments': [{ containerID: 'abc' }] }, 'cni.dev/valid-attachments[0].ifname', 'GC');
    rejects({ ...BASE, 'cni.dev/valid-attachments': [...list, { containerID: '_x', ifname: 'eth0' }] }, 'cni.dev/valid-attachments[1].containerID', 'GC');
    rejects({ ...BASE, 'cni.dev/valid-attachments': [{ containerID: 'abc', ifname: 'a/b' }] }, 'cni.dev/valid-attachments[0].ifname', 'GC');
  });

  it('checks the version against the command', () => {
    assert.throws(() => parseNetConf({ ...BASE, cniVersion: '1.0.0' }, 'GC'), (e) => isTwillError(e, 'VERSION_INCOMPATIBLE'));
    assert.throws(() => parseNetConf({ name: 'twill', type: 'twill-cni' }, 'ADD'), (e) => isTwillError(e, 'VERSION_INCOMPATIBLE'));
  });

  it('converts a prevResult of an older version to the 1.1.0 shape', () => {
    const conf = parseNetConf({ ...BASE, cniVersion: '0.4.0', prevResult: { cniVersion: '0.4.0', ips: [{ version: '4', address: '10.244.0.5/32' }] } }, 'CHECK');
    assert.deepEqual(conf.prevResult, { cniVersion: '1.1.0', ips: [{ address: '10.244.0.5/32' }] });
  });
});
