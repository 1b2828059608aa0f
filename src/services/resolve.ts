// Services + EndpointSlices + node facts → one plan per (Service port, address family): which
// addresses it answers on and which endpoints it may pick. Pure. The rules are Kubernetes':
//   - ExternalName and headless Services, and Services labelled for another proxy
//     (service.kubernetes.io/service-proxy-name), are not proxied;
//   - a slice belongs to the Service named by its kubernetes.io/service-name label; a Service port
//     takes its target port from the slice port of the same name and protocol (the slice
//     controller resolved named targetPorts per pod, which is why pods of one Service may sit in
//     slices with different numbers);
//   - usable endpoints are the ready ones; only when none is ready, the serving-and-terminating
//     ones (so a rolling update never blackholes); a missing condition reads as true, except
//     terminating;
//   - "local" is decided per traffic policy, from the same rule applied to this node's endpoints.
import { SERVICE_HEADLESS_LABEL, SERVICE_NAME_LABEL, SERVICE_PROXY_NAME_LABEL, objectKey, type Endpoint, type EndpointSlice, type Protocol, type Service } from '../model/types.js';
import type { FieldError } from '../model/field-errors.js';
import { validateEndpointSlice, validateService } from '../model/validate-service.js';
import { flat } from '../util/flat.js';
import { tryParseIp, type Family } from '../util/ip.js';

export interface ServicesSnapshot {
  node: {
    name: string;
    /** Addresses NodePorts answer on (the node's underlay addresses). */
    addresses: string[];
  };
  /** Cluster pod pools: traffic from them is "inside the cluster". */
  podCidrs: string[];
  /** Pod addresses on this node: endpoints with these addresses are local even without nodeName. */
  localPodIPs?: string[];
  services: Service[];
  endpointSlices: EndpointSlice[];
}

export interface EndpointTarget {
  ip: string;
  port: number;
  local: boolean;
}

export interface ServicePortPlan {
  /** `namespace/name/protocol/port-name-or-number`: stable, readable, unique per Service port. */
  id: string;
  family: Family;
  namespace: string;
  name: string;
  protocol: 'tcp' | 'udp' | 'sctp';
  port: number;
  /** ClusterIP of this family (absent: the Service has none of it). */
  clusterIP?: string;
  /** externalIPs and LoadBalancer ingress IPs of this family, sorted. */
  externalIPs: string[];
  nodePort?: number;
  /** ClientIP affinity timeout in seconds (absent: no affinity). */
  affinitySeconds?: number;
  internalLocal: boolean;
  externalLocal: boolean;
  /** Usable endpoints cluster-wide, sorted by address and port. */
  endpoints: EndpointTarget[];
  /** Usable endpoints on this node (the same rule applied to local endpoints only). */
  localEndpoints: EndpointTarget[];
}

export interface HealthCheck {
  namespace: string;
  name: string;
  port: number;
  localEndpoints: number;
}

export interface Skipped {
  object: string;
  reason: string;
}

export interface ResolvedServices {
  ports: ServicePortPlan[];
  /** ports.length (without listing them). */
  portCount: number;
  healthChecks: HealthCheck[];
  /** Objects not proxied because they are invalid (reason says which field). */
  skipped: Skipped[];
}

// `localeCompare(b, 'en', { numeric: true })` builds a collator on every call: at 10,000 Services
// sorting endpoints that way was a third of the first compile. One collator, the same order; two
// dotted IPv4 addresses (no leading zeros) are compared number by number, which is the
// order the numeric collator gives them, without a call into ICU (~1 µs each).
const collate = new Intl.Collator('en', { numeric: true }).compare;
/**
 * A dotted IPv4 address of four 1–3 digit parts without leading zeros as one number (parts × 1000),
 * or -1. Read by char codes: a regular expression here allocated its match on every comparison
 * (~9 MB of garbage in a first compile at 10,000 Services).
 */
function v4Number(ip: string): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      n = n * 1000 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits === 3 || (digits === 1 && part === 0)) return -1;
      part = part * 10 + (c - 48);
      digits++;
    } else return -1;
  }
  return dots === 3 && digits > 0 ? n * 1000 + part : -1;
}
export function byAddress(a: string, b: string): number {
  const [x, y] = [v4Number(a), v4Number(b)];
  return x >= 0 && y >= 0 ? x - y : collate(a, b);
}

// Shared by every plan without any (plans are read-only once resolved).
const NO_IPS: string[] = [];
const NO_ENDPOINTS: EndpointTarget[] = [];
const NO_ERRORS: readonly FieldError[] = [];

/** Kubernetes' default ClientIP affinity timeout (three hours). */
export const DEFAULT_AFFINITY_SECONDS = 10_800;

const lower = (p: Protocol | undefined): 'tcp' | 'udp' | 'sctp' => (p ?? 'TCP').toLowerCase() as 'tcp' | 'udp' | 'sctp';
const familyOf = (ip: string): Family | undefined => tryParseIp(ip)?.family;

const order = (a: EndpointTarget, b: EndpointTarget): number => byAddress(a.ip, b.ip) || a.port - b.port;
/** Endpoints as targets, in address order. */
function targets(eps: { ep: Endpoint; port: number; local: boolean }[]): EndpointTarget[] {
  const out = eps.map((e): EndpointTarget => ({ ip: e.ep.addresses[0]!, port: e.port, local: e.local }));
  return out.length > 1 ? out.sort(order) : out;
}

function usable(eps: { ep: Endpoint; port: number; local: boolean }[]): { ep: Endpoint; port: number; local: boolean }[] {
  const ready = eps.filter((e) => e.ep.conditions?.ready !== false);
  if (ready.length > 0) return ready;
  const serving = (c: Endpoint['conditions']): boolean => c?.serving ?? c?.ready ?? true;
  return eps.filter((e) => serving(e.ep.conditions) && e.ep.conditions?.terminating === true);
}

function serviceIPs(svc: Service): { cluster: Map<Family, string>; external: Map<Family, string[]> } {
  const cluster = new Map<Family, string>();
  for (const ip of [...(svc.spec.clusterIPs ?? []), svc.spec.clusterIP ?? '']) {
    const f = familyOf(ip);
    if (f && !cluster.has(f)) cluster.set(f, ip);
  }
  const external = new Map<Family, string[]>();
  const ext = [...(svc.spec.externalIPs ?? [])];
  if (svc.spec.type === 'LoadBalancer') for (const i of svc.status?.loadBalancer?.ingress ?? []) if (i.ip && i.ipMode !== 'Proxy') ext.push(i.ip);
  for (const ip of ext) {
    const f = familyOf(ip);
    if (!f) continue;
    const list = external.get(f) ?? [];
    if (!list.includes(ip)) list.push(ip);
    external.set(f, list);
  }
  for (const l of external.values()) l.sort();
  return { cluster, external };
}

/** What resolving one Service needs besides its own objects. */
export interface ResolveContext {
  nodeName: string;
  localIPs: ReadonlySet<string>;
  /** The objects were validated on write (a kube-apiserver): not checked again. */
  validated?: boolean | undefined;
}

/**
 * Valid slices of one Service key (`namespace/name`); invalid ones are reported in `skipped`.
 * `validated`: an API server checked them on write (at 10,000 Services checking again was ~70
 * of a first compile's ~550 ms).
 */
export function validSlices(slices: EndpointSlice[], skipped: Skipped[], validated = false): EndpointSlice[] {
  const out: EndpointSlice[] = [];
  for (const s of slices) {
    // kube-proxy ignores slices labelled headless as it ignores such Services.
    if (s.addressType === 'FQDN' || s.metadata.labels?.[SERVICE_HEADLESS_LABEL] !== undefined) continue;
    const errs = validated ? NO_ERRORS : validateEndpointSlice(s);
    if (errs.length) skipped.push({ object: `EndpointSlice ${objectKey(s)}`, reason: errs.map((e) => `${e.field}: ${e.message}`).join('; ') });
    else out.push(s);
  }
  return out.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

/** The Service key a slice belongs to, or undefined (no service-name label). */
export function sliceOwner(s: EndpointSlice): string | undefined {
  const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
  return svc ? `${s.metadata.namespace}/${svc}` : undefined;
}

/** One Service's plans (empty when it is not proxied) and its health check; `slices` are valid. */
export function resolveService(svc: Service, slices: EndpointSlice[], ctx: ResolveContext, skipped: Skipped[]): { ports: ServicePortPlan[]; healthCheck?: HealthCheck } {
  let ports: ServicePortPlan[] = [];
  if (svc.metadata.labels?.[SERVICE_PROXY_NAME_LABEL] !== undefined || svc.metadata.labels?.[SERVICE_HEADLESS_LABEL] !== undefined) return { ports };
  if (svc.spec.type === 'ExternalName' || svc.spec.clusterIP === 'None') return { ports };
  const errs = ctx.validated ? NO_ERRORS : validateService(svc);
  if (errs.length) {
    skipped.push({ object: `Service ${objectKey(svc)}`, reason: errs.map((e) => `${e.field}: ${e.message}`).join('; ') });
    return { ports };
  }
  const { cluster, external } = serviceIPs(svc);
  const nodePorts = svc.spec.type === 'NodePort' || svc.spec.type === 'LoadBalancer';
  const externalLocal = svc.spec.externalTrafficPolicy === 'Local' && (nodePorts || external.size > 0);
  let localForHealth = 0;
  for (const f of [4, 6] as const) {
    if (!cluster.has(f) && !external.has(f)) continue;
    for (const sp of svc.spec.ports ?? []) {
      const proto = lower(sp.protocol);
      const candidates: { ep: Endpoint; port: number; local: boolean }[] = [];
      const seen = new Set<string>();
      for (const slice of slices) {
        if (slice.addressType !== (f === 4 ? 'IPv4' : 'IPv6')) continue;
        const named = (slice.ports ?? []).find((p) => (p.name ?? '') === (sp.name ?? '') && lower(p.protocol) === proto);
        // A hand-written slice without ports: a numeric targetPort (or the port) still says where to go.
        const port = named?.port ?? (slice.ports?.length ? undefined : typeof sp.targetPort === 'number' ? sp.targetPort : sp.targetPort === undefined ? sp.port : undefined);
        if (port === undefined) continue;
        for (const ep of slice.endpoints) {
          const ip = ep.addresses[0]!;
          const key = `${ip}/${port}`;
          if (seen.has(key)) continue;
          seen.add(key);
          candidates.push({ ep, port, local: ep.nodeName !== undefined ? ep.nodeName === ctx.nodeName : ctx.localIPs.has(ip) });
        }
      }
      const endpoints = targets(usable(candidates));
      const localEndpoints = targets(usable(candidates.filter((c) => c.local)));
      // The health check counts ready local endpoints only, as kube-proxy does: a node left with
      // terminating ones still serves them, but tells the load balancer to drain it (503).
      localForHealth = Math.max(localForHealth, candidates.filter((c) => c.local && c.ep.conditions?.ready !== false).length);
      const plan: ServicePortPlan = {
        // Plans live as long as their Service (the compiler keeps them): the id is built flat.
        id: flat(`${objectKey(svc)}/${proto}/${sp.name || String(sp.port)}`),
        family: f,
        namespace: svc.metadata.namespace,
        name: svc.metadata.name,
        protocol: proto,
        port: sp.port,
        externalIPs: external.get(f) ?? NO_IPS,
        internalLocal: svc.spec.internalTrafficPolicy === 'Local',
        externalLocal,
        endpoints,
        localEndpoints: localEndpoints.length ? localEndpoints : NO_ENDPOINTS,
      };
      const cip = cluster.get(f);
      if (cip) plan.clusterIP = cip;
      if (nodePorts && sp.nodePort) plan.nodePort = sp.nodePort;
      if (svc.spec.sessionAffinity === 'ClientIP') plan.affinitySeconds = svc.spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_SECONDS;
      ports.push(plan);
    }
  }
  // Sized exactly (a list grown by push keeps spare room): the compiler keeps one per Service.
  ports = ports.slice();
  if (externalLocal && svc.spec.healthCheckNodePort) {
    return { ports, healthCheck: { namespace: svc.metadata.namespace, name: svc.metadata.name, port: svc.spec.healthCheckNodePort, localEndpoints: localForHealth } };
  }
  return { ports };
}

export function resolveServices(s: ServicesSnapshot): ResolvedServices {
  const skipped: Skipped[] = [];
  const bySvc = new Map<string, EndpointSlice[]>();
  for (const sl of s.endpointSlices) {
    const key = sliceOwner(sl);
    if (key) bySvc.set(key, [...(bySvc.get(key) ?? []), sl]);
  }
  const valid = new Map([...bySvc].map(([k, v]) => [k, validSlices(v, skipped)]));
  const ctx: ResolveContext = { nodeName: s.node.name, localIPs: new Set(s.localPodIPs ?? []) };
  const ports: ServicePortPlan[] = [];
  const healthChecks: HealthCheck[] = [];
  for (const svc of [...s.services].sort((a, b) => objectKey(a).localeCompare(objectKey(b)))) {
    const r = resolveService(svc, valid.get(objectKey(svc)) ?? [], ctx, skipped);
    ports.push(...r.ports);
    if (r.healthCheck) healthChecks.push(r.healthCheck);
  }
  return { ports, portCount: ports.length, healthChecks, skipped };
}
