// NetworkPolicy validation: the rules the Kubernetes API server applies to networking.k8s.io/v1,
// re-checked here because the lab and the etcd datastore have no API server in front of them.
// A policy with any FieldError is rejected and never reaches the compiler. Input may come from
// YAML, so every field is checked for its type before its value.
import type { NetworkPolicy } from '../model/types.js';
import { tryParseCidr, cidrCovers } from '../util/ip.js';
import { dnsLabelProblem, dnsSubdomainProblem, labelKeyProblem, labelValueProblem, portNameProblem } from '../model/labels.js';
import { Collector, isInt, type FieldError } from '../model/field-errors.js';

export type { FieldError } from '../model/field-errors.js';

export function validateLabelSelector(sel: unknown, field: string, c: Collector = new Collector()): FieldError[] {
  const s = c.obj(sel, field);
  if (!s) return c.errors;
  for (const k of Object.keys(s)) {
    if (k !== 'matchLabels' && k !== 'matchExpressions') c.add(`${field}.${k}`, 'unknown field (expected matchLabels or matchExpressions)');
  }
  const ml = c.obj(s['matchLabels'], `${field}.matchLabels`);
  for (const [k, v] of Object.entries(ml ?? {})) {
    const f = `${field}.matchLabels[${k}]`;
    const kp = labelKeyProblem(k);
    if (kp) c.add(f, `invalid label key: ${kp}`);
    if (typeof v !== 'string') c.add(f, 'label value must be a string');
    else {
      const vp = labelValueProblem(v);
      if (vp) c.add(f, `invalid label value "${v}": ${vp}`);
    }
  }
  c.list(s['matchExpressions'], `${field}.matchExpressions`).forEach((e, i) => {
    const f = `${field}.matchExpressions[${i}]`;
    const req = c.obj(e, f, false);
    if (!req) return;
    const key = req['key'];
    if (typeof key !== 'string') c.add(`${f}.key`, 'is required and must be a string');
    else {
      const kp = labelKeyProblem(key);
      if (kp) c.add(`${f}.key`, `invalid label key: ${kp}`);
    }
    const op = req['operator'];
    const values = req['values'];
    if (values !== undefined && values !== null && !Array.isArray(values)) {
      c.add(`${f}.values`, 'must be a list of strings');
      return;
    }
    const vals = (values ?? []) as unknown[];
    if (op === 'In' || op === 'NotIn') {
      if (vals.length === 0) c.add(`${f}.values`, `must be non-empty when operator is ${op}`);
    } else if (op === 'Exists' || op === 'DoesNotExist') {
      if (vals.length > 0) c.add(`${f}.values`, `must be empty when operator is ${op}`);
    } else {
      c.add(`${f}.operator`, `must be one of In, NotIn, Exists, DoesNotExist (got ${JSON.stringify(op)})`);
    }
    vals.forEach((v, j) => {
      if (typeof v !== 'string') c.add(`${f}.values[${j}]`, 'must be a string');
      else {
        const vp = labelValueProblem(v);
        if (vp) c.add(`${f}.values[${j}]`, `invalid label value "${v}": ${vp}`);
      }
    });
  });
  return c.errors;
}

function validateIpBlock(b: unknown, field: string, c: Collector): void {
  const blk = c.obj(b, field);
  if (!blk) return;
  const cidrText = blk['cidr'];
  const cidr = typeof cidrText === 'string' ? tryParseCidr(cidrText) : undefined;
  if (typeof cidrText !== 'string' || cidrText === '') c.add(`${field}.cidr`, 'is required (e.g. 192.0.2.0/24)');
  else if (!cidr) c.add(`${field}.cidr`, `"${cidrText}" is not a valid CIDR (e.g. 192.0.2.0/24 or 2001:db8::/64)`);
  c.list(blk['except'], `${field}.except`).forEach((e, i) => {
    const f = `${field}.except[${i}]`;
    const ex = typeof e === 'string' ? tryParseCidr(e) : undefined;
    if (!ex) {
      c.add(f, `${JSON.stringify(e)} is not a valid CIDR`);
      return;
    }
    if (!cidr) return;
    if (ex.family !== cidr.family) c.add(f, `must be the same IP family as cidr ${String(cidrText)}`);
    else if (!cidrCovers(cidr, ex) || ex.prefix <= cidr.prefix) c.add(f, `must be a strict subset of cidr ${String(cidrText)}`);
  });
}

function validatePeer(p: unknown, field: string, c: Collector): void {
  const peer = c.obj(p, field, false);
  if (!peer) return;
  const hasPod = peer['podSelector'] !== undefined && peer['podSelector'] !== null;
  const hasNs = peer['namespaceSelector'] !== undefined && peer['namespaceSelector'] !== null;
  const hasIp = peer['ipBlock'] !== undefined && peer['ipBlock'] !== null;
  for (const k of Object.keys(peer)) {
    if (!['podSelector', 'namespaceSelector', 'ipBlock'].includes(k)) c.add(`${field}.${k}`, 'unknown field (expected podSelector, namespaceSelector or ipBlock)');
  }
  if (!hasPod && !hasNs && !hasIp) c.add(field, 'must specify a peer: podSelector, namespaceSelector and/or ipBlock');
  if (hasIp && (hasPod || hasNs)) c.add(field, 'ipBlock may not be combined with podSelector or namespaceSelector (use two peers)');
  if (hasPod) validateLabelSelector(peer['podSelector'], `${field}.podSelector`, c);
  if (hasNs) validateLabelSelector(peer['namespaceSelector'], `${field}.namespaceSelector`, c);
  if (hasIp) validateIpBlock(peer['ipBlock'], `${field}.ipBlock`, c);
}

function validatePort(p: unknown, field: string, c: Collector): void {
  const port = c.obj(p, field, false);
  if (!port) return;
  const proto = port['protocol'];
  if (proto !== undefined && proto !== 'TCP' && proto !== 'UDP' && proto !== 'SCTP') {
    c.add(`${field}.protocol`, `must be TCP, UDP or SCTP (got ${JSON.stringify(proto)})`);
  }
  const num = port['port'];
  if (num !== undefined && num !== null) {
    if (typeof num === 'string') {
      const pp = portNameProblem(num);
      if (pp) c.add(`${field}.port`, `invalid named port "${num}": ${pp}`);
    } else if (!isInt(num) || num < 1 || num > 65535) {
      c.add(`${field}.port`, `must be a port number 1..65535 or a port name (got ${JSON.stringify(num)})`);
    }
  }
  const end = port['endPort'];
  if (end === undefined || end === null) return;
  if (!isInt(end) || end < 1 || end > 65535) c.add(`${field}.endPort`, `must be a port number 1..65535 (got ${JSON.stringify(end)})`);
  else if (num === undefined || num === null) c.add(`${field}.endPort`, 'may only be set together with port');
  else if (typeof num === 'string') c.add(`${field}.endPort`, 'may not be set with a named port (a range needs numeric ports)');
  else if (isInt(num) && end < num) c.add(`${field}.endPort`, `must be greater than or equal to port (${num})`);
}

function validateRules(rules: unknown, dir: 'ingress' | 'egress', c: Collector): void {
  const peersKey = dir === 'ingress' ? 'from' : 'to';
  c.list(rules, `spec.${dir}`).forEach((r, i) => {
    const f = `spec.${dir}[${i}]`;
    const rule = c.obj(r, f, false);
    if (!rule) return;
    for (const k of Object.keys(rule)) {
      if (k !== peersKey && k !== 'ports') c.add(`${f}.${k}`, `unknown field (expected ${peersKey} or ports)`);
    }
    c.list(rule[peersKey], `${f}.${peersKey}`).forEach((p, j) => validatePeer(p, `${f}.${peersKey}[${j}]`, c));
    c.list(rule['ports'], `${f}.ports`).forEach((p, j) => validatePort(p, `${f}.ports[${j}]`, c));
  });
}

/** Every problem with `p`, each naming its field. An empty list means the policy is accepted. */
export function validateNetworkPolicy(p: NetworkPolicy): FieldError[] {
  const c = new Collector();
  const root = c.obj(p as unknown, 'policy', false);
  if (!root) return c.errors;
  if (root['apiVersion'] !== 'networking.k8s.io/v1') c.add('apiVersion', `must be networking.k8s.io/v1 (got ${JSON.stringify(root['apiVersion'])})`);
  if (root['kind'] !== 'NetworkPolicy') c.add('kind', `must be NetworkPolicy (got ${JSON.stringify(root['kind'])})`);
  const meta = c.obj(root['metadata'], 'metadata', false);
  if (meta) {
    const name = meta['name'];
    const np = typeof name === 'string' ? dnsSubdomainProblem(name) : 'is required';
    if (np) c.add('metadata.name', np);
    const ns = meta['namespace'];
    const nsp = typeof ns === 'string' ? dnsLabelProblem(ns) : 'is required';
    if (nsp) c.add('metadata.namespace', nsp);
  }
  const spec = c.obj(root['spec'], 'spec', false);
  if (!spec) return c.errors;
  if (spec['podSelector'] === undefined || spec['podSelector'] === null) {
    c.add('spec.podSelector', 'is required ({} selects every pod in the namespace)');
  } else validateLabelSelector(spec['podSelector'], 'spec.podSelector', c);
  const types = c.list(spec['policyTypes'], 'spec.policyTypes');
  const seen = new Set<unknown>();
  types.forEach((t, i) => {
    if (t !== 'Ingress' && t !== 'Egress') c.add(`spec.policyTypes[${i}]`, `must be Ingress or Egress (got ${JSON.stringify(t)})`);
    else if (seen.has(t)) c.add(`spec.policyTypes[${i}]`, `duplicate value ${t}`);
    seen.add(t);
  });
  validateRules(spec['ingress'], 'ingress', c);
  validateRules(spec['egress'], 'egress', c);
  return c.errors;
}
