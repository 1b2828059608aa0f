// Validation of the core/v1 objects the lab accepts (Namespace, Pod), with the API server's rules
// for names, labels and container ports. NetworkPolicy validation lives in src/policy/validate.ts.
import type { Namespace, Pod } from './types.js';
import { dnsLabelProblem, dnsSubdomainProblem, labelKeyProblem, labelValueProblem, portNameProblem } from './labels.js';
import { Collector, isInt, type FieldError, type Obj } from './field-errors.js';

export type { FieldError } from './field-errors.js';

/** metadata.name (DNS subdomain or label), metadata.namespace, metadata.labels. */
export function validateMetadata(meta: Obj | undefined, c: Collector, opts: { namespaced: boolean; nameIsLabel?: boolean }): void {
  if (!meta) return;
  const name = meta['name'];
  const np = typeof name === 'string' ? (opts.nameIsLabel ? dnsLabelProblem(name) : dnsSubdomainProblem(name)) : 'is required';
  if (np) c.add('metadata.name', np);
  if (opts.namespaced) {
    const ns = meta['namespace'];
    const nsp = typeof ns === 'string' ? dnsLabelProblem(ns) : 'is required';
    if (nsp) c.add('metadata.namespace', nsp);
  }
  const labels = c.obj(meta['labels'], 'metadata.labels');
  for (const [k, v] of Object.entries(labels ?? {})) {
    const kp = labelKeyProblem(k);
    if (kp) c.add(`metadata.labels[${JSON.stringify(k)}]`, `key ${kp}`);
    if (typeof v !== 'string') c.add(`metadata.labels[${JSON.stringify(k)}]`, `value must be a string (quote it in YAML), got ${JSON.stringify(v)}`);
    else {
      const vp = labelValueProblem(v);
      if (vp) c.add(`metadata.labels[${JSON.stringify(k)}]`, `value ${vp}`);
    }
  }
}

function header(o: unknown, c: Collector, apiVersion: string, kind: string): Obj | undefined {
  const root = c.obj(o, kind.toLowerCase(), false);
  if (!root) return undefined;
  if (root['apiVersion'] !== apiVersion) c.add('apiVersion', `must be ${apiVersion} (got ${JSON.stringify(root['apiVersion'])})`);
  if (root['kind'] !== kind) c.add('kind', `must be ${kind} (got ${JSON.stringify(root['kind'])})`);
  return root;
}

export function validateNamespace(ns: Namespace): FieldError[] {
  const c = new Collector();
  const root = header(ns, c, 'v1', 'Namespace');
  if (root) validateMetadata(c.obj(root['metadata'], 'metadata', false), c, { namespaced: false, nameIsLabel: true });
  return c.errors;
}

export function validatePod(pod: Pod): FieldError[] {
  const c = new Collector();
  const root = header(pod, c, 'v1', 'Pod');
  if (!root) return c.errors;
  validateMetadata(c.obj(root['metadata'], 'metadata', false), c, { namespaced: true });
  const spec = c.obj(root['spec'], 'spec', false);
  if (!spec) return c.errors;
  if (spec['nodeName'] !== undefined && (typeof spec['nodeName'] !== 'string' || dnsSubdomainProblem(spec['nodeName']))) {
    c.add('spec.nodeName', `must be a node name, got ${JSON.stringify(spec['nodeName'])}`);
  }
  if (spec['hostNetwork'] === true) c.add('spec.hostNetwork', 'host-network pods are not supported by the lab');
  const containers = c.list(spec['containers'], 'spec.containers');
  if (spec['containers'] !== undefined && containers.length === 0) c.add('spec.containers', 'must list at least one container');
  if (spec['containers'] === undefined) c.add('spec.containers', 'is required');
  const names = new Set<string>();
  const portNames = new Set<string>();
  containers.forEach((ct, i) => {
    const f = `spec.containers[${i}]`;
    const o = c.obj(ct, f, false);
    if (!o) return;
    const n = o['name'];
    const p = typeof n === 'string' ? dnsLabelProblem(n) : 'is required';
    if (p) c.add(`${f}.name`, p);
    else if (names.has(n as string)) c.add(`${f}.name`, `duplicate container name ${JSON.stringify(n)}`);
    names.add(n as string);
    c.list(o['ports'], `${f}.ports`).forEach((port, j) => {
      const pf = `${f}.ports[${j}]`;
      const po = c.obj(port, pf, false);
      if (!po) return;
      const cp = po['containerPort'];
      if (!isInt(cp) || cp < 1 || cp > 65535) c.add(`${pf}.containerPort`, `must be an integer 1..65535, got ${JSON.stringify(cp)}`);
      const proto = po['protocol'];
      if (proto !== undefined && proto !== 'TCP' && proto !== 'UDP' && proto !== 'SCTP') c.add(`${pf}.protocol`, `must be TCP, UDP or SCTP, got ${JSON.stringify(proto)}`);
      const pn = po['name'];
      if (pn !== undefined) {
        const pnp = typeof pn === 'string' ? portNameProblem(pn) : 'must be a string';
        if (pnp) c.add(`${pf}.name`, pnp);
        else if (portNames.has(pn as string)) c.add(`${pf}.name`, `duplicate port name ${JSON.stringify(pn)} in this pod`);
        portNames.add(pn as string);
      }
    });
  });
  return c.errors;
}
