// The Helm chart renders the same objects as deploy/twill.yaml (object by object), and its values
// reach the objects. Needs the helm binary: `scripts/externals/build.sh helm`.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseAllDocuments, parseDocument } from 'yaml';
import type { K8sObject } from './manifest.js';
import { CHART_DIR } from './helm.js';
import { INSTALL_FILE } from './render.js';

const HELM = process.env['TWILL_HELM'] ?? '/var/cache/twill/externals/helm-v3.22.0/helm';
const noHelm = !existsSync(HELM) && `helm is not built: run scripts/externals/build.sh helm (or set TWILL_HELM)`;

const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const parse = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as K8sObject | null).filter((o): o is K8sObject => o !== null);
const helmTemplate = (...set: string[]) => parse(execFileSync(HELM, ['template', 'twill', CHART_DIR, '--include-crds', ...set.flatMap((s) => ['--set', s])], { encoding: 'utf8' }));

test('kd helm template renders exactly the objects of deploy/twill.yaml', { skip: noHelm }, () => {
  const fromHelm = new Map(helmTemplate().map((o) => [key(o), o]));
  const fromFile = new Map(parse(readFileSync(INSTALL_FILE, 'utf8')).map((o) => [key(o), o]));
  assert.deepEqual([...fromHelm.keys()].sort(), [...fromFile.keys()].sort());
  for (const [k, o] of fromFile) assert.deepEqual(fromHelm.get(k), o, `${k} differs between the chart and twill.yaml`);
});

test('kd helm values reach the objects, with their types', { skip: noHelm }, () => {
  const objs = helmTemplate('image=kd.local/twill:9', 'healthPort=1234', 'natOutgoing=false', 'namespace=kd-ns', 'pool=10.9.0.0/16', 'kubeProxyReplacement=true', 'apiServer=https://192.0.2.1:6443');
  const ds = objs.find((o) => o.kind === 'DaemonSet') as unknown as { metadata: { namespace: string }; spec: { template: { spec: { containers: { image: string; readinessProbe: { httpGet: { port: unknown } } }[] } } } };
  assert.equal(ds.metadata.namespace, 'kd-ns');
  assert.equal(ds.spec.template.spec.containers[0]!.image, 'kd.local/twill:9');
  assert.equal(ds.spec.template.spec.containers[0]!.readinessProbe.httpGet.port, 1234);
  const cm = objs.find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
  assert.match(cm.data['config.yaml']!, /^natOutgoing: false$/m);
  assert.match(cm.data['config.yaml']!, /^pool: 10\.9\.0\.0\/16$/m);
  const cfg = parseDocument(cm.data['config.yaml']!).toJS() as Record<string, unknown>;
  assert.equal(cfg['kubeProxyReplacement'], true);
  assert.equal(cfg['apiServer'], 'https://192.0.2.1:6443');
  const defaults = parseDocument((helmTemplate().find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> }).data['config.yaml']!).toJS() as Record<string, unknown>;
  assert.equal(defaults['kubeProxyReplacement'], false, 'off unless asked for');
  assert.equal(defaults['apiServer'], '', 'an empty string, not null (the agent treats it as unset)');
  assert.ok(objs.find((o) => o.kind === 'Namespace' && o.metadata.name === 'kd-ns'));
});
