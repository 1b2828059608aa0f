import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { etcdSecurityOf, readConfigFile, validateConfig } from './config.js';
import { isTwillError } from '../util/errors.js';

test('defaults, and exactly one of --pod-cidr / --datastore', () => {
  const c = validateConfig({ nodeName: 'node-1', podCidr: '10.244.1.0/24' });
  assert.equal(c.socket, '/run/twill/agent.sock');
  assert.equal(c.backend, 'vxlan');
  assert.deepEqual([c.encryption, c.wireguardPort, c.wireguardStrict, c.wireguardNodeTraffic], ['none', 51871, true, false]);
  assert.throws(() => validateConfig({ nodeName: 'node-1' }), /give exactly one/);
  assert.throws(() => validateConfig({ nodeName: 'node-1', podCidr: '10.244.1.0/24', datastore: 'etcd:http://127.0.0.1:2379' }), /give exactly one/);
});

test('kubeProxyReplacement is off by default; apiServer "" (as the install writes it) is unset', () => {
  const c = validateConfig({ nodeName: 'n', datastore: 'kubernetes', apiServer: '' });
  assert.equal(c.kubeProxyReplacement, false);
  assert.equal(c.apiServer, undefined);
  const on = validateConfig({ nodeName: 'n', datastore: 'kubernetes', apiServer: 'https://192.0.2.1:6443', kubeProxyReplacement: true });
  assert.deepEqual([on.kubeProxyReplacement, on.apiServer], [true, 'https://192.0.2.1:6443']);
});

test('each bad setting is named with what to do', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ nodeName: 'Node_1', podCidr: '10.0.0.0/24' }, /--node-name: "Node_1" is not a valid node name/],
    [{ nodeName: 'n', podCidr: '10.0.0.0' }, /--pod-cidr: "10.0.0.0" is not a CIDR/],
    [{ nodeName: 'n', podCidr: '10.0.0.0/31' }, /--pod-cidr: \/31 is too small/],
    [{ nodeName: 'n', podCidr: '10.0.0.0/24', mtu: 100 }, /--mtu: must be an integer between 576 and 9000/],
    [{ nodeName: 'n', datastore: 'consul:x' }, /--datastore: "consul:x"/],
    [{ nodeName: 'n', datastore: 'memory', backend: 'ipip' }, /--backend: "ipip" is not a backend/],
    [{ nodeName: 'n', datastore: 'memory', blockPrefix: 8 }, /--block-prefix/],
    [{ nodeName: 'n', podCidr: '10.0.0.0/24', socket: 'agent.sock' }, /--socket: must be an absolute path/],
    [{ nodeName: 'n', datastore: 'memory', apiServer: 'https://192.0.2.1:6443' }, /--api-server: only applies with --datastore kubernetes/],
    [{ nodeName: 'n', datastore: 'kubernetes', apiServer: 'http://192.0.2.1:6443' }, /--api-server: "http:\/\/192.0.2.1:6443" is not https:\/\/HOST\[:PORT\]/],
    [{ nodeName: 'n', datastore: 'kubernetes', apiServer: 'https://a:1', kubeconfig: '/k' }, /--api-server: conflicts with --kubeconfig/],
    [{ nodeName: 'n', datastore: 'memory', encryption: 'ipsec' }, /--encryption: "ipsec" is not an encryption mode \(none, wireguard\)/],
    [{ nodeName: 'n', datastore: 'memory', encryption: 'wireguard', wireguardPort: 0 }, /--wireguard-port: must be a port number/],
    [{ nodeName: 'n', datastore: 'memory', encryption: 'wireguard', wireguardPort: 4789 }, /--wireguard-port: must differ from the VXLAN port 4789/],
  ];
  for (const [cfg, msg] of bad) assert.throws(() => validateConfig(cfg), (e) => isTwillError(e, 'CONFIG_INVALID') && msg.test(e.message), JSON.stringify(cfg));
});

test('config file: YAML or JSON, unknown keys and wrong types refused; flags win', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'twill-cfg-'));
  try {
    const f = join(dir, 'agent.yaml');
    await writeFile(f, 'nodeName: node-7\npodCidr: 10.244.7.0/24\nmtu: 1400\n');
    const fromFile = readConfigFile(f);
    assert.equal(validateConfig({ ...fromFile, mtu: 1300 }).mtu, 1300, 'a flag wins over the file');
    await writeFile(f, '{"nodeName": "n", "podcidr": "10.0.0.0/24"}');
    assert.throws(() => readConfigFile(f), /unknown setting "podcidr"/);
    await writeFile(f, 'nodeName: n\nmtu: "1400"\n');
    assert.throws(() => readConfigFile(f), /"mtu" must be a number/);
    assert.throws(() => readConfigFile(join(dir, 'missing.yaml')), /cannot read config file/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('etcd TLS and auth settings: config file keys, checks, and the password from the environment only', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tls-cfg-'));
  try {
    const f = join(dir, 'agent.yaml');
    await writeFile(f, 'nodeName: n\ndatastore: etcd:https://10.0.0.5:2379\netcdCaFile: /etc/twill/ca.crt\netcdCertFile: /etc/twill/c.crt\netcdKeyFile: /etc/twill/c.key\netcdUsername: twill\n');
    const cfg = validateConfig(readConfigFile(f));
    assert.deepEqual(etcdSecurityOf(cfg, { TWILL_ETCD_PASSWORD: 's3cret' }), {
      caFile: '/etc/twill/ca.crt', certFile: '/etc/twill/c.crt', keyFile: '/etc/twill/c.key', username: 'twill', password: 's3cret',
    });
    const withFile = validateConfig({ ...cfg, etcdPasswordFile: '/etc/twill/pw', etcdAllowPlaintext: true });
    assert.deepEqual(etcdSecurityOf(withFile, { TWILL_ETCD_PASSWORD: 'ignored' }), {
      caFile: '/etc/twill/ca.crt', certFile: '/etc/twill/c.crt', keyFile: '/etc/twill/c.key', username: 'twill', passwordFile: '/etc/twill/pw', allowPlaintext: true,
    });
    await writeFile(f, 'nodeName: n\netcdPassword: x\n');
    assert.throws(() => readConfigFile(f), /unknown setting "etcdPassword"/, 'no password in the config file');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  assert.throws(() => validateConfig({ nodeName: 'n', podCidr: '10.0.0.0/24', etcdCaFile: '/ca' }), /--etcd-ca-file: applies to an etcd datastore only/);
  assert.throws(() => validateConfig({ nodeName: 'n', datastore: 'etcd:https://a:1', etcdKeyFile: 'c.key' }), /--etcd-key-file: must be an absolute path/);
});

test('kubernetes mode: --kubeconfig and --ipam kubernetes only with --datastore kubernetes', () => {
  const c = validateConfig({ nodeName: 'n', datastore: 'kubernetes', kubeconfig: '/etc/kubernetes/admin.conf', ipam: 'kubernetes' });
  assert.equal(c.leaseNamespace, 'twill-system');
  assert.equal(validateConfig({ nodeName: 'n', datastore: 'kubernetes' }).ipam, 'blocks');
  assert.throws(() => validateConfig({ nodeName: 'n', datastore: 'memory', kubeconfig: '/x' }), /--kubeconfig: only applies with --datastore kubernetes/);
  assert.throws(() => validateConfig({ nodeName: 'n', datastore: 'memory', ipam: 'kubernetes' }), /--ipam: kubernetes \(Node podCIDRs\) needs --datastore kubernetes/);
  assert.throws(() => validateConfig({ nodeName: 'n', datastore: 'kubernetes', ipam: 'host-local' as never }), /--ipam: "host-local"/);
  assert.throws(() => validateConfig({ nodeName: 'n', datastore: 'kubernetes', leaseNamespace: 'Bad_NS' }), /--lease-namespace/);
});
