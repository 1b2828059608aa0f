// An EndpointSlice from its protobuf bytes (k8s.io/api discovery/v1), as resources.ts's
// decodeEndpointSlice builds it from JSON: hostnames, zones, hints and topology are skipped.
import { API_VERSION } from '../../keys.js';
import { shared, sharedConditions } from '../resources.js';
import { LEN1, LEN2, LEN3, end, fit, objectMeta } from './meta.js';
import { WIRE_LEN, WIRE_VARINT, tag, type ProtoReader } from './reader.js';

type Obj = Record<string, unknown>;

export function decodeEndpointSlice(r: ProtoReader, to: number): Obj {
  let metadata: Obj = { name: undefined };
  const endpoints: Obj[] = [];
  let ports: Obj[] | undefined;
  let addressType: string | undefined;
  for (let k = r.key(to); k !== 0; k = r.key(to)) {
    if (k === LEN1) metadata = objectMeta(r, r.len());
    else if (k === LEN2) endpoints.push(endpoint(r, r.len()));
    else if (k === LEN3) (ports ??= []).push(endpointPort(r, r.len()));
    else if (k === tag(4, WIRE_LEN)) addressType = r.string();
    else r.skip(k);
  }
  end(r, to);
  const apiVersion = API_VERSION.EndpointSlice;
  const kind = 'EndpointSlice';
  if (!ports) return { apiVersion, kind, metadata, addressType, endpoints: fit(endpoints) };
  return { apiVersion, kind, metadata, addressType, endpoints: fit(endpoints), ports: shared.value(fit(ports)) };
}

function endpoint(r: ProtoReader, to: number): Obj {
  const addresses: string[] = [];
  let conditions: Obj | undefined;
  let nodeName: string | undefined;
  let ref: Obj | undefined;
  for (let k = r.key(to); k !== 0; k = r.key(to)) {
    if (k === LEN1) addresses.push(r.string());
    else if (k === LEN2) conditions = endpointConditions(r, r.len());
    else if (k === tag(4, WIRE_LEN)) ref = targetRef(r, r.len());
    else if (k === tag(6, WIRE_LEN)) nodeName = r.string();
    else r.skip(k);
  }
  end(r, to);
  const ep: Obj = { addresses: fit(addresses) };
  if (conditions) ep['conditions'] = conditions;
  if (nodeName !== undefined) ep['nodeName'] = shared.str(nodeName);
  if (ref) ep['targetRef'] = ref;
  return ep;
}

/** ready 1, serving 2, terminating 3: each a *bool, on the wire iff set. */
function endpointConditions(r: ProtoReader, to: number): Obj {
  const c: Obj = {};
  let key = 0;
  for (let k = r.key(to); k !== 0; k = r.key(to)) {
    const f = k >>> 3;
    if ((k & 7) !== WIRE_VARINT || f < 1 || f > 3) {
      r.skip(k);
      continue;
    }
    const v = r.bool();
    c[f === 1 ? 'ready' : f === 2 ? 'serving' : 'terminating'] = v;
    key += (v ? 1 : 2) * (f === 1 ? 9 : f === 2 ? 3 : 1);
  }
  end(r, to);
  return sharedConditions(c, key);
}

/** ObjectReference: kind 1, namespace 2, name 3 (plain strings, omitempty); the rest go. */
function targetRef(r: ProtoReader, to: number): Obj | undefined {
  let kind: string | undefined, namespace: string | undefined, name: string | undefined;
  for (let k = r.key(to); k !== 0; k = r.key(to)) {
    if (k === LEN1) kind = r.string();
    else if (k === LEN2) namespace = r.string();
    else if (k === LEN3) name = r.string();
    else r.skip(k);
  }
  end(r, to);
  if (!kind && !namespace && !name) return undefined;
  const ref: Obj = {};
  if (kind) ref['kind'] = kind;
  if (namespace) ref['namespace'] = namespace;
  if (name) ref['name'] = name;
  return ref;
}

/** EndpointPort: name 1, protocol 2, port 3, appProtocol 4, all pointers; kept as name, port, protocol, appProtocol. */
function endpointPort(r: ProtoReader, to: number): Obj {
  let name: string | undefined, protocol: string | undefined, appProtocol: string | undefined;
  let port: number | undefined;
  for (let k = r.key(to); k !== 0; k = r.key(to)) {
    if (k === LEN1) name = r.string();
    else if (k === LEN2) protocol = r.string();
    else if (k === tag(3, WIRE_VARINT)) port = r.int32();
    else if (k === tag(4, WIRE_LEN)) appProtocol = r.string();
    else r.skip(k);
  }
  end(r, to);
  const p: Obj = {};
  if (name !== undefined) p['name'] = name;
  if (port !== undefined) p['port'] = port;
  if (protocol !== undefined) p['protocol'] = protocol;
  if (appProtocol !== undefined) p['appProtocol'] = appProtocol;
  return p;
}
