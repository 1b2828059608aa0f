// Pieces every protobuf decoder here shares: the keys of fields 1–3 as strings or messages, the
// end-of-message check, ObjectMeta as resources.ts's decodeMeta keeps it for a projected kind.
import { LEASE_LABEL, shared } from '../resources.js';
import { ProtoError, WIRE_LEN, tag, type ProtoReader } from './reader.js';

type Obj = Record<string, unknown>;

export const LEN1 = tag(1, WIRE_LEN);
export const LEN2 = tag(2, WIRE_LEN);
export const LEN3 = tag(3, WIRE_LEN);

export function end(r: ProtoReader, to: number): void {
  if (r.pos !== to) throw new ProtoError(`a field runs past its message (byte ${r.pos}, message ends at ${to})`);
}

/** ObjectMeta as resources.ts's decodeMeta keeps it for a projected kind (no annotations). */
export function objectMeta(r: ProtoReader, to: number): Obj {
  let name: string | undefined;
  let namespace: string | undefined;
  let resourceVersion: string | undefined;
  let labels: Record<string, string> | undefined;
  for (let k = r.key(to); k !== 0; k = r.key(to)) {
    switch (k) {
      case LEN1:
        name = r.string() || undefined;
        break;
      case LEN3:
        namespace = r.string() || undefined;
        break;
      case tag(6, WIRE_LEN):
        resourceVersion = r.string() || undefined;
        break;
      case tag(11, WIRE_LEN): {
        const [lk, lv] = r.mapEntry();
        if (lk !== LEASE_LABEL) (labels ??= {})[lk] = lv;
        break;
      }
      default:
        r.skip(k);
    }
  }
  end(r, to);
  const meta: Obj = {};
  meta['name'] = name;
  if (namespace !== undefined) meta['namespace'] = shared.str(namespace);
  if (labels) meta['labels'] = shared.value(labels);
  if (resourceVersion !== undefined) meta['resourceVersion'] = resourceVersion;
  return meta;
}

export function strings(r: ProtoReader, into: string[] | undefined): string[] {
  const a = into ?? [];
  a.push(r.string());
  return a;
}

/**
 * An array built by push() as one of exactly its length. push() grows a backing store to 17 slots
 * at the first element; JSON.parse makes arrays of their size. Decoded objects live as long as the
 * agent: 30,000 endpoints' address arrays with 16 spare slots each are ~2 MB.
 */
export function fit<T>(a: T[]): T[] {
  return a.length === 0 ? [] : a.slice();
}

