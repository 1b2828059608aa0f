// Services and EndpointSlices from the kube-apiserver's protobuf answers (what kube-proxy reads):
// the envelope (magic "k8s\0", then runtime.Unknown holding the list's bytes), ListMeta, and each
// item straight into the objects resources.ts's decodeObject builds from the JSON of the same item:
// same fields, same key order, same sharing. Fields Twill does not keep (managedFields,
// annotations, ipFamilyPolicy, hints...) are jumped over by their length prefix, never decoded.
//
// Where JSON and protobuf differ, the JSON is the reference. Go's JSON encoder omits a field
// tagged omitempty when it is the zero value; the protobuf marshaller writes a non-pointer string,
// int32 or bool field always, so here "" (and 0, false) means absent for exactly those fields that
// the Go types tag omitempty and do not hold by pointer. Pointer fields (appProtocol, ipMode,
// internalTrafficPolicy, the endpoint conditions, every EndpointPort field) are on the wire iff set.
// Field numbers: k8s.io/api core/v1 and discovery/v1, k8s.io/apimachinery meta/v1, runtime, intstr.
import type { Kind, ResourceOf } from '../../../model/types.js';
import { decodeEndpointSlice } from './endpointslices.js';
import { LEN1, LEN2, LEN3, end } from './meta.js';
import { ProtoError, ProtoReader } from './reader.js';
import { decodeService } from './services.js';

export const PROTOBUF_TYPE = 'application/vnd.kubernetes.protobuf';
const MAGIC = Buffer.from('k8s\0', 'latin1');

export interface ListMeta {
  resourceVersion?: string;
  continue?: string;
}

/** The kinds whose lists are read as protobuf. */
export const PROTOBUF_KINDS: ReadonlySet<Kind> = new Set<Kind>(['Service', 'EndpointSlice']);

/** The bytes of the object inside the envelope (runtime.Unknown's raw, field 2). */
export function unwrap(body: Buffer): Buffer {
  if (body.length < 4 || body.compare(MAGIC, 0, 4, 0, 4) !== 0) throw new ProtoError('the answer does not start with the "k8s\\0" magic');
  const r = new ProtoReader(body, 4);
  let raw: Buffer | undefined;
  let encoding = '';
  for (let k = r.key(r.end); k !== 0; k = r.key(r.end)) {
    if (k === LEN2) raw = r.bytes();
    else if (k === LEN3) encoding = r.string();
    else r.skip(k);
  }
  if (encoding !== '') throw new ProtoError(`content encoding "${encoding}" inside the envelope is not supported`);
  if (!raw) throw new ProtoError('the envelope holds no object');
  return raw;
}

/**
 * A ServiceList's or EndpointSliceList's answer (with its envelope): `onItem` gets each item,
 * decoded as decodeObject would; returns the list's metadata.
 */
export function decodeProtobufList<K extends Kind>(kind: K, body: Buffer, onItem: (item: ResourceOf<K>) => void): ListMeta {
  const decode = kind === 'Service' ? decodeService : kind === 'EndpointSlice' ? decodeEndpointSlice : undefined;
  if (!decode) throw new ProtoError(`no protobuf decoder for ${kind}`);
  const raw = unwrap(body);
  const r = new ProtoReader(raw);
  const meta: ListMeta = {};
  for (let k = r.key(r.end); k !== 0; k = r.key(r.end)) {
    if (k === LEN1) listMeta(r, meta);
    else if (k === LEN2) onItem(decode(r, r.len()) as unknown as ResourceOf<K>);
    else r.skip(k);
  }
  return meta;
}

function listMeta(r: ProtoReader, out: ListMeta): void {
  const to = r.len();
  for (let k = r.key(to); k !== 0; k = r.key(to)) {
    // Plain strings, omitempty in JSON: "" is absent.
    if (k === LEN2) out.resourceVersion = r.string() || undefined;
    else if (k === LEN3) out.continue = r.string() || undefined;
    else r.skip(k);
  }
  end(r, to);
}
