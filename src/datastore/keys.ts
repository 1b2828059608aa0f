// Naming and checking shared by every store: resource paths, object keys, revisions.
import { NAMESPACED, TWILL_API, objectKey, type AnyResource, type Kind } from '../model/types.js';
import { TwillError } from '../util/errors.js';

/**
 * The lower-case plural of each kind: the Kubernetes resource name (`/apis/.../<plural>`) and the
 * etcd key segment (`/twill/<plural>/...`). An explicit map: plurals are not a rule.
 */
export const RESOURCE_PLURAL: Record<Kind, string> = {
  Pod: 'pods',
  Namespace: 'namespaces',
  Node: 'nodes',
  NetworkPolicy: 'networkpolicies',
  TwillNode: 'twillnodes',
  IPAMBlock: 'ipamblocks',
  ClusterConfig: 'clusterconfigs',
};

/** The apiVersion each kind is served under (for objects rebuilt from a key alone). */
export const API_VERSION: Record<Kind, string> = {
  Pod: 'v1',
  Namespace: 'v1',
  Node: 'v1',
  NetworkPolicy: 'networking.k8s.io/v1',
  TwillNode: TWILL_API,
  IPAMBlock: TWILL_API,
  ClusterConfig: TWILL_API,
};

// Kubernetes names are DNS subdomains (253) or labels (63); we accept the wider form and no '/'.
const NAME_RE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export interface KeyParts {
  namespace?: string;
  name: string;
}

/** Splits and checks a store key ("name" or "namespace/name") for `kind`. */
export function parseKey(kind: Kind, key: string): KeyParts {
  checkKind(kind);
  const parts = key.split('/');
  if (NAMESPACED[kind]) {
    const [namespace, name] = parts;
    if (parts.length !== 2 || namespace === undefined || name === undefined || !NAME_RE.test(namespace) || !NAME_RE.test(name)) {
      throw new TwillError('VALIDATION', `${kind} key ${JSON.stringify(key)} must be "namespace/name" with lower-case DNS names`);
    }
    return { namespace, name };
  }
  const [name] = parts;
  if (parts.length !== 1 || name === undefined || !NAME_RE.test(name)) {
    throw new TwillError('VALIDATION', `${kind} key ${JSON.stringify(key)} must be a lower-case DNS name (${kind} is not namespaced)`);
  }
  return { name };
}

/** Checks an object before it is written and returns its store key. */
export function checkObject(obj: AnyResource): string {
  if (typeof obj !== 'object' || obj === null || typeof obj.metadata !== 'object' || obj.metadata === null) {
    throw new TwillError('VALIDATION', 'a stored object needs kind and metadata.name');
  }
  checkKind(obj.kind);
  const { namespace } = obj.metadata;
  if (NAMESPACED[obj.kind] !== (namespace !== undefined && namespace !== '')) {
    throw new TwillError(
      'VALIDATION',
      NAMESPACED[obj.kind]
        ? `${obj.kind} ${obj.metadata.name} needs metadata.namespace`
        : `${obj.kind} ${obj.metadata.name} is cluster-scoped: remove metadata.namespace`,
    );
  }
  const key = objectKey(obj);
  parseKey(obj.kind, key);
  return key;
}

export function checkNamespace(kind: Kind, namespace: string | undefined): void {
  if (namespace === undefined) return;
  if (!NAMESPACED[kind]) throw new TwillError('VALIDATION', `${kind} is cluster-scoped: list it without a namespace`);
  if (!NAME_RE.test(namespace)) throw new TwillError('VALIDATION', `namespace ${JSON.stringify(namespace)} is not a lower-case DNS name`);
}

export function checkKind(kind: string): asserts kind is Kind {
  if (!Object.hasOwn(RESOURCE_PLURAL, kind)) {
    throw new TwillError('VALIDATION', `unknown kind ${JSON.stringify(kind)}; the store holds ${Object.keys(RESOURCE_PLURAL).join(', ')}`);
  }
}

/** Revisions are decimal strings (int64 in etcd, opaque in Kubernetes); this store compares them. */
export function parseRevision(rev: string, what = 'revision'): bigint {
  if (!/^\d{1,19}$/.test(rev)) throw new TwillError('VALIDATION', `${what} ${JSON.stringify(rev)} is not a store revision (a decimal number)`);
  return BigInt(rev);
}

/** A deep copy with `metadata.resourceVersion` replaced (or removed when `rv` is undefined). */
export function withRevision<T extends AnyResource>(obj: T, rv: string | undefined): T {
  const copy = structuredClone(obj);
  if (rv === undefined) delete copy.metadata.resourceVersion;
  else copy.metadata.resourceVersion = rv;
  return copy;
}

/** The resourceVersion an update() compares against; required. */
export function requireResourceVersion(obj: AnyResource, key: string): bigint {
  const rv = obj.metadata.resourceVersion;
  if (rv === undefined || rv === '') {
    throw new TwillError('VALIDATION', `update of ${obj.kind} ${key} needs metadata.resourceVersion (from get/list); use put() to overwrite unconditionally`);
  }
  return parseRevision(rv, 'resourceVersion');
}

export function checkTtl(ttlSeconds: number): void {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
    throw new TwillError('VALIDATION', `lease TTL must be a whole number of seconds >= 1, got ${ttlSeconds}`);
  }
}
