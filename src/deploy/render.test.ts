// The committed install files are exactly what src/deploy/ renders, and the install has the shape
// issue 9 asks for. `npm run deploy:render` fixes the first kind of failure.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { AGENT_CLUSTER_RULES, AGENT_LEASE_RULES } from '../datastore/kubernetes/rbac.js';
import { twillCrdNames } from '../datastore/kubernetes/crds.js';
import { CONFIG_DEFAULTS, readConfigFile, validateConfig } from '../agent/config.js';
import { CHART_DIR } from './helm.js';
import { AGENT_RUNTIME_ENV, renderObjects, type K8sObject } from './manifest.js';
import { INSTALL_FILE, renderAll } from './render.js';
import { DEFAULT_VALUES } from './values.js';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

test('kd committed deploy/ files are the render of src/deploy/ (run `npm run deploy:render`)', () => {
  const files = renderAll(pkg.version);
  for (const [path, text] of files) {
    assert.ok(existsSync(path), `${path} is missing: run npm run deploy:render`);
    assert.equal(readFileSync(path, 'utf8'), text, `${path} differs from the render: run npm run deploy:render`);
  }
  for (const sub of ['crds', 'templates']) {
    for (const f of readdirSync(join(CHART_DIR, sub))) assert.ok(files.has(join(CHART_DIR, sub, f)), `${CHART_DIR}/${sub}/${f} is not rendered any more: run npm run deploy:render`);
  }
});

test('kd twill.yaml parses into the objects the render makes, in apply order', () => {
  const docs = parseAllDocuments(readFileSync(INSTALL_FILE, 'utf8')).map((d) => d.toJS() as K8sObject);
  assert.deepEqual(docs, renderObjects(DEFAULT_VALUES));
  assert.equal(docs[0]!.kind, 'Namespace');
  const ds = docs.findIndex((o) => o.kind === 'DaemonSet');
  assert.equal(ds, docs.length - 1, 'the DaemonSet comes last: everything it needs exists first');
  assert.deepEqual(docs.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name), twillCrdNames());
});

test('kd the image tag follows package.json', () => {
  assert.equal(DEFAULT_VALUES.image, `twill.local/twill:${pkg.version}`);
});

test('kd RBAC is the datastore\'s rules plus a read of the agent\'s own DaemonSet, nothing more', () => {
  const objs = renderObjects(DEFAULT_VALUES);
  const cr = objs.find((o) => o.kind === 'ClusterRole')!;
  assert.deepEqual(cr['rules'], AGENT_CLUSTER_RULES);
  const roles = objs.filter((o) => o.kind === 'Role');
  assert.deepEqual(roles.find((r) => r.metadata.name === 'twill-agent')!['rules'], AGENT_LEASE_RULES);
  assert.deepEqual(roles.find((r) => r.metadata.name === 'twill-agent-owner')!['rules'], [
    { apiGroups: ['apps'], resources: ['daemonsets'], resourceNames: ['twill'], verbs: ['get', 'list', 'watch'] },
  ]);
  for (const b of objs.filter((o) => o.kind.endsWith('Binding'))) {
    assert.deepEqual(b['subjects'], [{ kind: 'ServiceAccount', name: 'twill-agent', namespace: 'twill-system' }]);
  }
});

test('kd the DaemonSet runs on every node, before it is Ready, and mounts what the agent needs', () => {
  const ds = renderObjects(DEFAULT_VALUES).find((o) => o.kind === 'DaemonSet')! as unknown as {
    spec: { template: { spec: Record<string, unknown> & { containers: Record<string, unknown>[]; initContainers: Record<string, unknown>[] } } };
  };
  const pod = ds.spec.template.spec;
  assert.equal(pod['hostNetwork'], true);
  assert.equal(pod['priorityClassName'], 'system-node-critical');
  assert.deepEqual(pod['tolerations'], [{ operator: 'Exists' }]);
  assert.deepEqual(pod.initContainers[0]!['command'], ['/usr/local/bin/twill', 'install-cni', '--from', '/opt/twill/dist/twill-cni', '--to', '/opt/cni/bin']);
  const agent = pod.containers[0]!;
  const mounts = agent['volumeMounts'] as { mountPath: string; readOnly?: boolean; mountPropagation?: string }[];
  const at = (p: string) => mounts.find((m) => m.mountPath === p);
  for (const p of ['/run/twill', '/var/lib/twill', '/etc/cni/net.d', '/run/netns']) assert.ok(at(p), `agent mounts ${p}`);
  // The kernel loads vxlan/nf_tables/wireguard modules itself (request_module runs the host's
  // modprobe): the agent needs no /lib/modules, and a host without that folder (a kernel with
  // everything built in) must not keep the pod in ContainerCreating.
  assert.equal(at('/lib/modules'), undefined);
  assert.ok(!JSON.stringify(pod['volumes']).includes('/lib/modules'), 'no /lib/modules hostPath');
  assert.equal(at('/run/netns')!.mountPropagation, 'HostToContainer');
  for (const probe of ['readinessProbe', 'livenessProbe']) {
    assert.deepEqual((agent[probe] as { httpGet: unknown }).httpGet, { host: '127.0.0.1', path: probe === 'readinessProbe' ? '/readyz' : '/healthz', port: 9099 });
  }
});

test('kd the ConfigMap holds a config file the agent accepts', async (t) => {
  const cm = renderObjects(DEFAULT_VALUES).find((o) => o.kind === 'ConfigMap')! as unknown as { data: Record<string, string> };
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const dir = await mkdtemp('/tmp/kd-cm-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'config.yaml'), cm.data['config.yaml']!);
  const cfg = readConfigFile(join(dir, 'config.yaml'));
  assert.deepEqual(cfg, {
    datastore: 'kubernetes', leaseNamespace: 'twill-system', ipam: 'blocks', pool: DEFAULT_VALUES.pool, blockPrefix: 26, backend: 'vxlan', vxlanVni: 4096, vxlanPort: 4789,
    natOutgoing: true, cniConfDir: '/etc/cni/net.d', healthPort: 9099, logLevel: 'info', kubeProxyReplacement: false, apiServer: '',
  });
  assert.equal(cfg.pool, CONFIG_DEFAULTS.pool);
  // With the flags the DaemonSet adds, the agent takes it as a whole.
  const full = validateConfig({ ...cfg, nodeName: 'kd-node-1', ownerDaemonSet: 'twill-system/twill' });
  assert.equal(full.datastore, 'kubernetes');
  assert.equal(full.healthPort, 9099);
  assert.equal(full.apiServer, undefined, 'apiServer "" is unset');
  assert.equal(full.kubeProxyReplacement, false);
  // The Helm value `ipam` reaches the agent: Node podCIDRs instead of Twill's blocks.
  const kcm = renderObjects({ ...DEFAULT_VALUES, ipam: 'kubernetes' }).find((o) => o.kind === 'ConfigMap')! as unknown as { data: Record<string, string> };
  await writeFile(join(dir, 'config.yaml'), kcm.data['config.yaml']!);
  assert.equal(validateConfig({ ...readConfigFile(join(dir, 'config.yaml')), nodeName: 'kd-node-1' }).ipam, 'kubernetes');
});

test('kd the agent container runs with the runtime settings the scale bench measures', () => {
  const ds = renderObjects(DEFAULT_VALUES).find((o) => o.kind === 'DaemonSet')! as unknown as { spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } } };
  const env = ds.spec.template.spec.containers[0]!.env;
  for (const [name, value] of Object.entries(AGENT_RUNTIME_ENV)) assert.deepEqual(env.find((e) => e.name === name), { name, value });
});
