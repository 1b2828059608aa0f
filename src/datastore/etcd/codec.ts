// How objects live in etcd: `<prefix><plural>/[<namespace>/]<name>` holding the object's JSON
// without metadata.resourceVersion, which is the key's mod revision on the way out.
import { NAMESPACED, type AnyResource, type Kind } from '../../model/types.js';
import { TwillError } from '../../util/errors.js';
import { RESOURCE_PLURAL, checkKind, checkObject, parseKey, withRevision } from '../keys.js';

export const DEFAULT_PREFIX = '/twill/';

export class KeyCodec {
  constructor(readonly prefix: string = DEFAULT_PREFIX) {
    if (!prefix.startsWith('/') || !prefix.endsWith('/')) {
      throw new TwillError('CONFIG_INVALID', `etcd key prefix ${JSON.stringify(prefix)} must start and end with '/'`);
    }
  }

  /** The etcd key of `key` ("name" or "namespace/name"), checked. */
  key(kind: Kind, key: string): Buffer {
    const { namespace, name } = parseKey(kind, key);
    return Buffer.from(`${this.prefix}${RESOURCE_PLURAL[kind]}/${namespace === undefined ? '' : `${namespace}/`}${name}`);
  }

  objectKey(obj: AnyResource): Buffer {
    return this.key(obj.kind, checkObject(obj));
  }

  /** The prefix holding every object of `kind` (of one namespace when given). */
  kindPrefix(kind: Kind, namespace?: string): Buffer {
    checkKind(kind);
    return Buffer.from(`${this.prefix}${RESOURCE_PLURAL[kind]}/${namespace === undefined ? '' : `${namespace}/`}`);
  }

  /** The store key ("name" / "namespace/name") of an etcd key under kindPrefix(kind). */
  storeKey(kind: Kind, etcdKey: Buffer): string {
    const base = this.kindPrefix(kind).toString();
    const k = etcdKey.toString();
    if (!k.startsWith(base)) throw new TwillError('DECODE', `etcd key ${k} is not under ${base}`);
    return k.slice(base.length);
  }
}

/** The range end that makes [prefix, end) cover every key starting with `prefix`. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // every key
}

export function encodeValue(obj: AnyResource): Buffer {
  return Buffer.from(JSON.stringify(withRevision(obj, undefined)));
}

/** Parses a stored value and stamps `rev` as its resourceVersion; the kind must match. */
export function decodeValue(kind: Kind, etcdKey: Buffer, value: Buffer, rev: string): AnyResource {
  let obj: unknown;
  try {
    obj = JSON.parse(value.toString('utf8'));
  } catch (e) {
    throw new TwillError('DECODE', `etcd key ${etcdKey.toString()} does not hold JSON; delete or fix it`, { cause: e });
  }
  const o = obj as Partial<AnyResource> | null;
  if (typeof o !== 'object' || o === null || o.kind !== kind || typeof o.metadata?.name !== 'string') {
    throw new TwillError('DECODE', `etcd key ${etcdKey.toString()} does not hold a ${kind} object`);
  }
  if (NAMESPACED[kind] !== (typeof o.metadata.namespace === 'string')) {
    throw new TwillError('DECODE', `etcd key ${etcdKey.toString()} holds a ${kind} with a wrong namespace field`);
  }
  o.metadata.resourceVersion = rev;
  return o as AnyResource;
}
