// Where each kind lives in the Kubernetes API, and the translation between API objects and the
// model. Objects are projected on decode to the fields Twill reads: the apiserver's defaults,
// managedFields and kubectl's last-applied annotation would otherwise multiply the agent's memory
// (30,000 pods). Projection is why core kinds are read-mostly here: writing back a projected Pod
// would drop what the store never kept. Services and EndpointSlices are read-only (the API's
// controllers own them; the agent's RBAC grants get/list/watch only).
import { NAMESPACED, TWILL_API, type AnyResource, type Kind, type ResourceOf } from '../../model/types.js';
import { API_VERSION, RESOURCE_PLURAL } from '../keys.js';
import { Interner } from './intern.js';

/** The sharing of decoded values, for every decoder of API objects (JSON here, protobuf in proto/). */
export const shared = new Interner();

/** The label that attaches an object to a Lease (value: the Lease's name). */
export const LEASE_LABEL = 'twill.dev/lease';
/** Addresses the agent publishes on a Pod at CNI ADD, before kubelet writes status.podIPs. */
export const POD_IPS_ANNOTATION = 'twill.dev/pod-ips';

const DROPPED_ANNOTATIONS = ['kubectl.kubernetes.io/last-applied-configuration'];

/** The kinds a lease's objects can be of (Twill's own; core kinds are not ours to expire). */
export const TWILL_KINDS: readonly Kind[] = ['TwillNode', 'IPAMBlock', 'ClusterConfig'];

export function isTwillKind(kind: Kind): boolean {
  return API_VERSION[kind] === TWILL_API;
}

function groupPath(kind: Kind): string {
  const av = API_VERSION[kind];
  return av === 'v1' ? '/api/v1' : `/apis/${av}`;
}

/** Collection path: all namespaces (or cluster-scoped), or one namespace. */
export function collectionPath(kind: Kind, namespace?: string): string {
  const ns = NAMESPACED[kind] && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${groupPath(kind)}${ns}/${RESOURCE_PLURAL[kind]}`;
}

export function objectPath(kind: Kind, name: string, namespace?: string): string {
  return `${collectionPath(kind, namespace)}/${encodeURIComponent(name)}`;
}

/** "listing pods", "creating twillnodes.twill.dev n1": what a request is for, in messages. */
export function describeOp(verb: string, kind: Kind, key?: string): string {
  const av = API_VERSION[kind];
  const group = av.includes('/') ? `.${av.split('/')[0]}` : '';
  return `${verb} ${RESOURCE_PLURAL[kind]}${group}${key ? ` ${key}` : ''}`;
}

type Obj = Record<string, unknown>;

function pick(o: Obj | undefined, keys: string[]): Obj | undefined {
  if (!o) return undefined;
  const out: Obj = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return Object.keys(out).length ? out : undefined;
}

// Decoded objects are built so V8 keeps their fields inside the object: an empty literal has four
// in-object slots (a pod's metadata needs four), and a pod is one literal. Fields added past a
// literal's own go to a separate property array: ~80 bytes a pod, 2.4 MB at 30,000 pods.
function decodeMeta(m: Obj, keepAnnotations: boolean): AnyResource['metadata'] {
  const meta: Obj = {};
  meta['name'] = m['name'];
  if (m['namespace'] !== undefined) meta['namespace'] = shared.str(m['namespace'] as string);
  const labels = { ...((m['labels'] as Record<string, string> | undefined) ?? {}) };
  delete labels[LEASE_LABEL];
  if (Object.keys(labels).length) meta['labels'] = shared.value(labels);
  const ann = { ...((m['annotations'] as Record<string, string> | undefined) ?? {}) };
  for (const a of DROPPED_ANNOTATIONS) delete ann[a];
  if (keepAnnotations && Object.keys(ann).length) meta['annotations'] = ann;
  if (m['resourceVersion'] !== undefined) meta['resourceVersion'] = m['resourceVersion'];
  return meta as unknown as AnyResource['metadata'];
}

/**
 * A Pod keeps what policy and routing read: labels, node, hostNetwork, its addresses, and the
 * containers' ports (named ports); images, container names without ports, annotations and every
 * API default are dropped, and repeated values are shared (intern.ts).
 */
function decodePod(o: Obj): { spec: Obj; status?: Obj } {
  const meta = (o['metadata'] ?? {}) as Obj;
  const spec = (o['spec'] ?? {}) as Obj;
  const containers: Obj[] = [];
  for (const c of (spec['containers'] as Obj[] | undefined) ?? []) {
    const ports = (c['ports'] as Obj[] | undefined)?.map((p) => pick(p, ['name', 'containerPort', 'protocol'])!);
    if (ports?.length) containers.push({ name: c['name'], ports });
  }
  const podSpec: Obj = { ...pick(spec, ['hostNetwork']), containers: shared.value(containers) };
  if (typeof spec['nodeName'] === 'string') podSpec['nodeName'] = shared.str(spec['nodeName']);
  const res: { spec: Obj; status?: Obj } = { spec: podSpec };
  const st = (o['status'] ?? {}) as Obj;
  const status: Obj = {};
  if (st['phase'] !== undefined) status['phase'] = shared.str(st['phase'] as string);
  if (st['hostIP'] !== undefined) status['hostIP'] = shared.str(st['hostIP'] as string);
  if (st['message'] !== undefined) status['message'] = st['message'];
  let ips = ((st['podIPs'] as { ip: string }[] | undefined) ?? []).map((x) => x.ip);
  if (ips.length === 0 && typeof st['podIP'] === 'string') ips = [st['podIP']];
  // Until kubelet reports status.podIPs, the addresses the agent published at CNI ADD stand in.
  const published = (meta['annotations'] as Record<string, string> | undefined)?.[POD_IPS_ANNOTATION];
  if (ips.length === 0 && published) ips = published.split(',').filter((ip) => /^[0-9a-fA-F:.]+$/.test(ip));
  if (ips.length) Object.assign(status, { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) });
  if (Object.keys(status).length) res['status'] = status;
  return res;
}

function decodeNode(o: Obj): { spec: Obj; status: Obj } {
  const status = (o['status'] ?? {}) as Obj;
  const conditions = (status['conditions'] as Obj[] | undefined)?.map((c) => pick(c, ['type', 'status', 'reason', 'message']));
  const st: Obj = {};
  if (status['addresses']) st['addresses'] = status['addresses'];
  if (conditions) st['conditions'] = conditions;
  return { spec: pick(o['spec'] as Obj | undefined, ['podCIDR', 'podCIDRs']) ?? {}, status: st };
}

const SERVICE_SPEC = [
  'type', 'clusterIP', 'clusterIPs', 'ipFamilies', 'selector', 'externalIPs', 'sessionAffinity', 'sessionAffinityConfig',
  'externalTrafficPolicy', 'internalTrafficPolicy', 'healthCheckNodePort', 'publishNotReadyAddresses', 'externalName',
];

/** A Service keeps what the services compiler reads (resolve.ts); ipFamilyPolicy, allocation flags and the like go. */
function decodeService(o: Obj, base: Base): Obj {
  const spec = (o['spec'] ?? {}) as Obj;
  const out = pick(spec, SERVICE_SPEC) ?? {};
  const ports = (spec['ports'] as Obj[] | undefined)?.map((p) => pick(p, ['name', 'protocol', 'port', 'targetPort', 'nodePort', 'appProtocol'])!);
  if (ports) out['ports'] = shared.value(ports);
  const ingress = (((o['status'] as Obj | undefined)?.['loadBalancer'] as Obj | undefined)?.['ingress'] as Obj[] | undefined)?.map((i) => pick(i, ['ip', 'hostname', 'ipMode']) ?? {});
  if (ingress?.length) return { apiVersion: base.apiVersion, kind: base.kind, metadata: base.metadata, spec: out, status: { loadBalancer: { ingress } } };
  return { apiVersion: base.apiVersion, kind: base.kind, metadata: base.metadata, spec: out };
}

/** Shared conditions objects by their three flags (0: absent, 1: true, 2: false): no JSON key per endpoint. */
const CONDITIONS = new Map<number, Obj>();
const flag = (v: unknown): number => (v === undefined ? 0 : v === true ? 1 : v === false ? 2 : -1);

/** An endpoint's conditions (ready, serving, terminating), one shared object per combination. */
function conditionsOf(c: Obj): Obj {
  const [r, s, t] = [flag(c['ready']), flag(c['serving']), flag(c['terminating'])];
  if (r < 0 || s < 0 || t < 0) return shared.value(pick(c, ['ready', 'serving', 'terminating']) ?? {});
  return sharedConditions(c, r * 9 + s * 3 + t);
}

/**
 * The shared conditions object for flags `key` (ready·9 + serving·3 + terminating, each 0 absent,
 * 1 true, 2 false); `c` holds those flags and is what the first of its kind is made from.
 */
export function sharedConditions(c: Obj, key: number): Obj {
  let hit = CONDITIONS.get(key);
  if (!hit) CONDITIONS.set(key, (hit = pick(c, ['ready', 'serving', 'terminating']) ?? {}));
  return hit;
}

/**
 * An EndpointSlice keeps its addresses, conditions, node and target pod (which `policy explain`
 * names); hostnames, zones, hints and topology go. It has no spec: its fields sit at the top.
 */
function decodeEndpointSlice(o: Obj, base: Base): Obj {
  const endpoints = ((o['endpoints'] as Obj[] | undefined) ?? []).map((e) => {
    const ep: Obj = { addresses: e['addresses'] ?? [] };
    if (e['conditions']) ep['conditions'] = conditionsOf(e['conditions'] as Obj);
    if (typeof e['nodeName'] === 'string') ep['nodeName'] = shared.str(e['nodeName']);
    const ref = pick(e['targetRef'] as Obj | undefined, ['kind', 'namespace', 'name']);
    if (ref) ep['targetRef'] = ref;
    return ep;
  });
  const ports = (o['ports'] as Obj[] | null | undefined)?.map((p) => pick(p, ['name', 'port', 'protocol', 'appProtocol']) ?? {});
  const { apiVersion, kind, metadata } = base;
  if (!ports) return { apiVersion, kind, metadata, addressType: o['addressType'], endpoints };
  return { apiVersion, kind, metadata, addressType: o['addressType'], endpoints, ports: shared.value(ports) };
}

/** Kinds whose annotations are dropped (Twill reads none of theirs). */
const PROJECTED = new Set<Kind>(['Pod', 'Service', 'EndpointSlice']);

interface Base {
  apiVersion: string;
  kind: Kind;
  metadata: AnyResource['metadata'];
}

/**
 * An API object (or a list item, which lacks apiVersion/kind) as the model's resource. Each kind's
 * object is one literal with its fields in a fixed order: built by spreading (`{ ...base,
 * ...rest }`), every Service and EndpointSlice got a hidden class of its own once the spread went
 * megamorphic (a map and a descriptor array each: ~7 MB at 10,000 Services, in a heap snapshot).
 */
export function decodeObject<K extends Kind>(kind: K, o: Obj): ResourceOf<K> {
  const metadata = decodeMeta((o['metadata'] ?? {}) as Obj, !PROJECTED.has(kind));
  const apiVersion = API_VERSION[kind];
  if (kind === 'Pod') {
    const { spec, status } = decodePod(o);
    const pod = status === undefined ? { apiVersion, kind, metadata, spec } : { apiVersion, kind, metadata, spec, status };
    return pod as unknown as ResourceOf<K>;
  }
  const base: Base = { apiVersion, kind, metadata };
  let out: Obj;
  switch (kind) {
    case 'Node': {
      const { spec, status } = decodeNode(o);
      out = { apiVersion, kind, metadata, spec, status };
      break;
    }
    case 'Namespace':
      out = { apiVersion, kind, metadata };
      break;
    case 'Service':
      out = decodeService(o, base);
      break;
    case 'EndpointSlice':
      out = decodeEndpointSlice(o, base);
      break;
    default:
      // NetworkPolicy and Twill's kinds: spec as stored (the CRD schema prunes unknown fields).
      out = { apiVersion, kind, metadata, spec: o['spec'] };
  }
  return out as unknown as ResourceOf<K>;
}

/** The lease a stored API object is attached to (undefined when none). */
export function leaseOfRaw(o: Obj): string | undefined {
  return ((o['metadata'] as Obj | undefined)?.['labels'] as Record<string, string> | undefined)?.[LEASE_LABEL];
}

/** A model object as the request body for POST/PUT, attached to `lease` when given. */
export function encodeObject(obj: AnyResource, lease: string | undefined, resourceVersion?: string): Obj {
  const body = structuredClone(obj) as unknown as Obj;
  body['apiVersion'] = API_VERSION[obj.kind];
  const meta = body['metadata'] as Obj;
  delete meta['resourceVersion'];
  delete meta['uid'];
  delete meta['creationTimestamp'];
  if (resourceVersion !== undefined) meta['resourceVersion'] = resourceVersion;
  const labels = { ...((meta['labels'] as Record<string, string> | undefined) ?? {}) };
  delete labels[LEASE_LABEL];
  if (lease !== undefined) labels[LEASE_LABEL] = lease;
  if (Object.keys(labels).length) meta['labels'] = labels;
  else delete meta['labels'];
  return body;
}
