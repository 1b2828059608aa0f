// A meta/v1 Status in protobuf: how the kube-apiserver answers an error to a client that asked for
// protobuf (a list whose continue token expired: 410). Read into the shape client.ts reports from.
import type { ApiStatus } from '../client.js';
import { ProtoReader, WIRE_LEN, WIRE_VARINT, tag } from './reader.js';
import { unwrap } from './lists.js';

/** The Status in an answer with the protobuf envelope; undefined when it is not one. */
export function decodeStatus(body: Buffer): ApiStatus | undefined {
  try {
    const raw = unwrap(body);
    const r = new ProtoReader(raw);
    const st: ApiStatus = { kind: 'Status' };
    for (let k = r.key(r.end); k !== 0; k = r.key(r.end)) {
      if (k === tag(2, WIRE_LEN)) st.status = r.string() || undefined;
      else if (k === tag(3, WIRE_LEN)) st.message = r.string() || undefined;
      else if (k === tag(4, WIRE_LEN)) st.reason = r.string() || undefined;
      else if (k === tag(6, WIRE_VARINT)) st.code = r.int32();
      else if (k === tag(5, WIRE_LEN)) {
        const to = r.len();
        const d: NonNullable<ApiStatus['details']> = {};
        for (let j = r.key(to); j !== 0; j = r.key(to)) {
          if (j === tag(1, WIRE_LEN)) d.name = r.string() || undefined;
          else if (j === tag(2, WIRE_LEN)) d.group = r.string() || undefined;
          else if (j === tag(3, WIRE_LEN)) d.kind = r.string() || undefined;
          else r.skip(j);
        }
        st.details = d;
      } else r.skip(k);
    }
    return st;
  } catch {
    // why: an error body that is not a protobuf Status is reported raw, with its status code
    return undefined;
  }
}
