// Validation of core/v1 Service and discovery.k8s.io/v1 EndpointSlice with the API server's rules
// for the fields Twill reads. Objects that reach the agent from etcd have no API server in front,
// so the services compiler skips (and reports) anything these functions reject.
import type { EndpointSlice, Service } from './types.js';
import { dnsLabelProblem, dnsSubdomainProblem, portNameProblem } from './labels.js';
import { Collector, isInt, type FieldError, type Obj } from './field-errors.js';
import { validateMetadata } from './validate.js';
import { tryParseIp } from '../util/ip.js';

const PROTOCOLS = new Set(['TCP', 'UDP', 'SCTP']);
const SERVICE_TYPES = new Set(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']);
const POLICIES = new Set(['Cluster', 'Local']);
const AFFINITIES = new Set(['None', 'ClientIP']);
const ADDRESS_TYPES = new Set(['IPv4', 'IPv6', 'FQDN']);
/** Kubernetes' bound on sessionAffinityConfig.clientIP.timeoutSeconds (one day). */
const MAX_AFFINITY_SECONDS = 86_400;

function header(o: unknown, c: Collector, apiVersion: string, kind: string): Obj | undefined {
  const root = c.obj(o, kind.toLowerCase(), false);
  if (!root) return undefined;
  if (root['apiVersion'] !== apiVersion) c.add('apiVersion', `must be ${apiVersion} (got ${JSON.stringify(root['apiVersion'])})`);
  if (root['kind'] !== kind) c.add('kind', `must be ${kind} (got ${JSON.stringify(root['kind'])})`);
  validateMetadata(c.obj(root['metadata'], 'metadata', false), c, { namespaced: true, nameIsLabel: kind === 'Service' });
  return root;
}

function port(c: Collector, v: unknown, field: string, optional = false): void {
  if (v === undefined && optional) return;
  if (!isInt(v) || v < 1 || v > 65535) c.add(field, `must be an integer 1..65535, got ${JSON.stringify(v)}`);
}

function protocol(c: Collector, v: unknown, field: string): void {
  if (v !== undefined && !PROTOCOLS.has(v as string)) c.add(field, `must be TCP, UDP or SCTP, got ${JSON.stringify(v)}`);
}

function ip(c: Collector, v: unknown, field: string): void {
  if (typeof v !== 'string' || !tryParseIp(v)) c.add(field, `must be an IPv4 or IPv6 address, got ${JSON.stringify(v)}`);
}

function oneOf(c: Collector, v: unknown, allowed: Set<string>, field: string): void {
  if (v !== undefined && !allowed.has(v as string)) c.add(field, `must be one of ${[...allowed].join(', ')}, got ${JSON.stringify(v)}`);
}

function servicePorts(c: Collector, spec: Obj, type: string): void {
  const ports = c.list(spec['ports'], 'spec.ports');
  const headless = spec['clusterIP'] === 'None';
  if (ports.length === 0 && !headless && type !== 'ExternalName') c.add('spec.ports', 'must list at least one port');
  const names = new Set<string>();
  const keys = new Set<string>();
  ports.forEach((p, i) => {
    const f = `spec.ports[${i}]`;
    const o = c.obj(p, f, false);
    if (!o) return;
    const name = o['name'];
    if (ports.length > 1 && (name === undefined || name === '')) c.add(`${f}.name`, 'is required when the Service has more than one port');
    if (name !== undefined && name !== '') {
      const np = typeof name === 'string' ? dnsLabelProblem(name) : 'must be a string';
      if (np) c.add(`${f}.name`, np);
      else if (names.has(name as string)) c.add(`${f}.name`, `duplicate port name ${JSON.stringify(name)}`);
      names.add(name as string);
    }
    protocol(c, o['protocol'], `${f}.protocol`);
    port(c, o['port'], `${f}.port`);
    const key = `${(o['protocol'] as string | undefined) ?? 'TCP'}/${String(o['port'])}`;
    if (keys.has(key)) c.add(`${f}.port`, `duplicate ${key}: each protocol and port may appear once`);
    keys.add(key);
    const tp = o['targetPort'];
    if (typeof tp === 'string') {
      const tpp = portNameProblem(tp);
      if (tpp) c.add(`${f}.targetPort`, tpp);
    } else port(c, tp, `${f}.targetPort`, true);
    if (o['nodePort'] !== undefined) {
      if (type !== 'NodePort' && type !== 'LoadBalancer') c.add(`${f}.nodePort`, `may only be set when spec.type is NodePort or LoadBalancer (it is ${type})`);
      port(c, o['nodePort'], `${f}.nodePort`);
    }
  });
}

export function validateService(svc: Service): FieldError[] {
  const c = new Collector();
  const root = header(svc, c, 'v1', 'Service');
  if (!root) return c.errors;
  const spec = c.obj(root['spec'], 'spec', false);
  if (!spec) return c.errors;
  oneOf(c, spec['type'], SERVICE_TYPES, 'spec.type');
  const type = (spec['type'] as string | undefined) ?? 'ClusterIP';
  const cip = spec['clusterIP'];
  if (cip !== undefined && cip !== '' && cip !== 'None') ip(c, cip, 'spec.clusterIP');
  const cips = c.list(spec['clusterIPs'], 'spec.clusterIPs');
  cips.forEach((x, i) => (x === 'None' && i === 0 ? undefined : ip(c, x, `spec.clusterIPs[${i}]`)));
  if (cips.length > 2) c.add('spec.clusterIPs', 'may hold at most two addresses (one per family)');
  if (cips.length === 2 && typeof cips[0] === 'string' && typeof cips[1] === 'string' && tryParseIp(cips[0])?.family === tryParseIp(cips[1])?.family) {
    c.add('spec.clusterIPs', 'the two addresses must be of different families');
  }
  if (typeof cip === 'string' && cip !== '' && cips.length > 0 && cips[0] !== cip) c.add('spec.clusterIPs', `must start with spec.clusterIP (${cip})`);
  servicePorts(c, spec, type);
  const sel = c.obj(spec['selector'], 'spec.selector');
  for (const [k, v] of Object.entries(sel ?? {})) if (typeof v !== 'string') c.add(`spec.selector[${JSON.stringify(k)}]`, 'must be a string');
  c.list(spec['externalIPs'], 'spec.externalIPs').forEach((x, i) => ip(c, x, `spec.externalIPs[${i}]`));
  oneOf(c, spec['sessionAffinity'], AFFINITIES, 'spec.sessionAffinity');
  const cfg = c.obj(c.obj(spec['sessionAffinityConfig'], 'spec.sessionAffinityConfig')?.['clientIP'], 'spec.sessionAffinityConfig.clientIP');
  if (cfg) {
    const t = cfg['timeoutSeconds'];
    if (spec['sessionAffinity'] !== 'ClientIP') c.add('spec.sessionAffinityConfig', 'may only be set when spec.sessionAffinity is ClientIP');
    if (t !== undefined && (!isInt(t) || t < 1 || t > MAX_AFFINITY_SECONDS)) c.add('spec.sessionAffinityConfig.clientIP.timeoutSeconds', `must be an integer 1..${MAX_AFFINITY_SECONDS}, got ${JSON.stringify(t)}`);
  }
  oneOf(c, spec['externalTrafficPolicy'], POLICIES, 'spec.externalTrafficPolicy');
  oneOf(c, spec['internalTrafficPolicy'], POLICIES, 'spec.internalTrafficPolicy');
  if (spec['healthCheckNodePort'] !== undefined) {
    if (type !== 'LoadBalancer' || spec['externalTrafficPolicy'] !== 'Local') {
      c.add('spec.healthCheckNodePort', 'may only be set for type LoadBalancer with externalTrafficPolicy Local');
    }
    port(c, spec['healthCheckNodePort'], 'spec.healthCheckNodePort');
  }
  const status = c.obj(root['status'], 'status');
  const lb = c.obj(status?.['loadBalancer'], 'status.loadBalancer');
  c.list(lb?.['ingress'], 'status.loadBalancer.ingress').forEach((x, i) => {
    const o = c.obj(x, `status.loadBalancer.ingress[${i}]`, false);
    if (o?.['ip'] !== undefined) ip(c, o['ip'], `status.loadBalancer.ingress[${i}].ip`);
  });
  return c.errors;
}

export function validateEndpointSlice(slice: EndpointSlice): FieldError[] {
  const c = new Collector();
  const root = header(slice, c, 'discovery.k8s.io/v1', 'EndpointSlice');
  if (!root) return c.errors;
  const at = root['addressType'];
  oneOf(c, at, ADDRESS_TYPES, 'addressType');
  if (at === undefined) c.add('addressType', 'is required (IPv4, IPv6 or FQDN)');
  const family = at === 'IPv4' ? 4 : at === 'IPv6' ? 6 : undefined;
  if (root['endpoints'] === undefined) c.add('endpoints', 'is required (it may be an empty list)');
  c.list(root['endpoints'], 'endpoints').forEach((e, i) => {
    const f = `endpoints[${i}]`;
    const o = c.obj(e, f, false);
    if (!o) return;
    const addrs = c.list(o['addresses'], `${f}.addresses`);
    if (addrs.length < 1 || addrs.length > 100) c.add(`${f}.addresses`, 'must hold 1..100 addresses');
    addrs.forEach((a, j) => {
      if (family === undefined) return;
      const p = typeof a === 'string' ? tryParseIp(a) : undefined;
      if (!p || p.family !== family) c.add(`${f}.addresses[${j}]`, `must be an ${at} address, got ${JSON.stringify(a)}`);
    });
    const cond = c.obj(o['conditions'], `${f}.conditions`);
    for (const k of ['ready', 'serving', 'terminating']) {
      if (cond?.[k] !== undefined && typeof cond[k] !== 'boolean') c.add(`${f}.conditions.${k}`, `must be true or false, got ${JSON.stringify(cond[k])}`);
    }
    const nn = o['nodeName'];
    if (nn !== undefined && (typeof nn !== 'string' || dnsSubdomainProblem(nn))) c.add(`${f}.nodeName`, `must be a node name, got ${JSON.stringify(nn)}`);
  });
  c.list(root['ports'], 'ports').forEach((p, i) => {
    const f = `ports[${i}]`;
    const o = c.obj(p, f, false);
    if (!o) return;
    const name = o['name'];
    if (name !== undefined && name !== '') {
      const np = typeof name === 'string' ? dnsLabelProblem(name) : 'must be a string';
      if (np) c.add(`${f}.name`, np);
    }
    port(c, o['port'], `${f}.port`, true);
    protocol(c, o['protocol'], `${f}.protocol`);
  });
  return c.errors;
}
