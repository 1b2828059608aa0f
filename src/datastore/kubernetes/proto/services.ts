// A Service from its protobuf bytes (k8s.io/api core/v1 Service), as resources.ts's decodeService
// builds it from JSON; lists.ts says how JSON's omitempty is mirrored.
import { API_VERSION } from '../../keys.js';
import { shared } from '../resources.js';
import { LEN1, LEN2, LEN3, end, fit, objectMeta, strings } from './meta.js';
import { WIRE_LEN, WIRE_VARINT, tag, type ProtoReader } from './reader.js';

type Obj = Record<string, unknown>;

export function decodeService(r: ProtoReader, to: number): Obj {
  let metadata: Obj = { name: undefined };
  let spec: Obj = {};
  let ingress: Obj[] | undefined;
  for (let k = r.key(to); k !== 0; k = r.key(to)) {
    if (k === LEN1) metadata = objectMeta(r, r.len());
    else if (k === LEN2) spec = serviceSpec(r, r.len());
    else if (k === LEN3) ingress = serviceIngress(r, r.len());
    else r.skip(k);
  }
  end(r, to);
  const apiVersion = API_VERSION.Service;
  const kind = 'Service';
  if (ingress?.length) return { apiVersion, kind, metadata, spec, status: { loadBalancer: { ingress } } };
  return { apiVersion, kind, metadata, spec };
}

function serviceSpec(r: ProtoReader, to: number): Obj {
  let ports: Obj[] | undefined;
  let selector: Record<string, string> | undefined;
  let clusterIPs: string[] | undefined;
  let ipFamilies: string[] | undefined;
  let externalIPs: string[] | undefined;
  let type: string | undefined, clusterIP: string | undefined, sessionAffinity: string | undefined;
  let externalName: string | undefined, etp: string | undefined, itp: string | undefined;
  let affinityConfig: Obj | undefined;
  let hcnp = 0;
  let pnra = false;
  for (let k = r.key(to); k !== 0; k = r.key(to)) {
    switch (k) {
      case LEN1:
        (ports ??= []).push(servicePort(r, r.len()));
        break;
      case LEN2: {
        const [sk, sv] = r.mapEntry();
        (selector ??= {})[sk] = sv;
        break;
      }
      case LEN3:
        clusterIP = r.string();
        break;
      case tag(18, WIRE_LEN):
        clusterIPs = strings(r, clusterIPs);
        break;
      case tag(4, WIRE_LEN):
        type = r.string();
        break;
      case tag(5, WIRE_LEN):
        externalIPs = strings(r, externalIPs);
        break;
      case tag(7, WIRE_LEN):
        sessionAffinity = r.string();
        break;
      case tag(10, WIRE_LEN):
        externalName = r.string();
        break;
      case tag(11, WIRE_LEN):
        etp = r.string();
        break;
      case tag(12, WIRE_VARINT):
        hcnp = r.int32();
        break;
      case tag(13, WIRE_VARINT):
        pnra = r.bool();
        break;
      case tag(14, WIRE_LEN):
        affinityConfig = sessionAffinityConfig(r, r.len());
        break;
      case tag(19, WIRE_LEN):
        ipFamilies = strings(r, ipFamilies);
        break;
      case tag(22, WIRE_LEN):
        itp = r.string();
        break;
      default:
        r.skip(k);
    }
  }
  end(r, to);
  // resources.ts's SERVICE_SPEC order, then ports.
  const out: Obj = {};
  if (type) out['type'] = type;
  if (clusterIP) out['clusterIP'] = clusterIP;
  if (clusterIPs) out['clusterIPs'] = fit(clusterIPs);
  if (ipFamilies) out['ipFamilies'] = fit(ipFamilies);
  if (selector) out['selector'] = selector;
  if (externalIPs) out['externalIPs'] = fit(externalIPs);
  if (sessionAffinity) out['sessionAffinity'] = sessionAffinity;
  if (affinityConfig) out['sessionAffinityConfig'] = affinityConfig;
  if (etp) out['externalTrafficPolicy'] = etp;
  if (itp !== undefined) out['internalTrafficPolicy'] = itp;
  if (hcnp !== 0) out['healthCheckNodePort'] = hcnp;
  if (pnra) out['publishNotReadyAddresses'] = pnra;
  if (externalName) out['externalName'] = externalName;
  if (ports) out['ports'] = shared.value(fit(ports));
  return out;
}

function sessionAffinityConfig(r: ProtoReader, to: number): Obj {
  const out: Obj = {};
  for (let k = r.key(to); k !== 0; k = r.key(to)) {
    if (k === LEN1) {
      const ipTo = r.len();
      const clientIP: Obj = {};
      for (let j = r.key(ipTo); j !== 0; j = r.key(ipTo)) {
        if (j === tag(1, WIRE_VARINT)) clientIP['timeoutSeconds'] = r.int32();
        else r.skip(j);
      }
      end(r, ipTo);
      out['clientIP'] = clientIP;
    } else r.skip(k);
  }
  end(r, to);
  return out;
}

function servicePort(r: ProtoReader, to: number): Obj {
  let name: string | undefined, protocol: string | undefined, appProtocol: string | undefined;
  let port = 0;
  let nodePort = 0;
  let target: number | string = 0;
  for (let k = r.key(to); k !== 0; k = r.key(to)) {
    switch (k) {
      case LEN1:
        name = r.string();
        break;
      case LEN2:
        protocol = r.string();
        break;
      case tag(3, WIRE_VARINT):
        port = r.int32();
        break;
      case tag(4, WIRE_LEN):
        target = intOrString(r, r.len());
        break;
      case tag(5, WIRE_VARINT):
        nodePort = r.int32();
        break;
      case tag(6, WIRE_LEN):
        appProtocol = r.string();
        break;
      default:
        r.skip(k);
    }
  }
  end(r, to);
  // Go: name, protocol and nodePort omitempty; port always; targetPort a struct (always).
  const out: Obj = {};
  if (name) out['name'] = name;
  if (protocol) out['protocol'] = protocol;
  out['port'] = port;
  out['targetPort'] = target;
  if (nodePort !== 0) out['nodePort'] = nodePort;
  if (appProtocol !== undefined) out['appProtocol'] = appProtocol;
  return out;
}

/** intstr.IntOrString: type 1 (0 int, 1 string), intVal 2, strVal 3. */
function intOrString(r: ProtoReader, to: number): number | string {
  let type = 0;
  let intVal = 0;
  let strVal = '';
  for (let k = r.key(to); k !== 0; k = r.key(to)) {
    if (k === tag(1, WIRE_VARINT)) type = r.varint();
    else if (k === tag(2, WIRE_VARINT)) intVal = r.int32();
    else if (k === LEN3) strVal = r.string();
    else r.skip(k);
  }
  end(r, to);
  return type === 1 ? strVal : intVal;
}

/** ServiceStatus → loadBalancer (1) → ingress (1): ip 1, hostname 2, ipMode 3 (a pointer). */
function serviceIngress(r: ProtoReader, to: number): Obj[] | undefined {
  let ingress: Obj[] | undefined;
  for (let k = r.key(to); k !== 0; k = r.key(to)) {
    if (k !== LEN1) {
      r.skip(k);
      continue;
    }
    const lbTo = r.len();
    for (let j = r.key(lbTo); j !== 0; j = r.key(lbTo)) {
      if (j !== LEN1) {
        r.skip(j);
        continue;
      }
      const inTo = r.len();
      let ip: string | undefined, hostname: string | undefined, ipMode: string | undefined;
      for (let i = r.key(inTo); i !== 0; i = r.key(inTo)) {
        if (i === LEN1) ip = r.string();
        else if (i === LEN2) hostname = r.string();
        else if (i === LEN3) ipMode = r.string();
        else r.skip(i);
      }
      end(r, inTo);
      const one: Obj = {};
      if (ip) one['ip'] = ip;
      if (hostname) one['hostname'] = hostname;
      if (ipMode !== undefined) one['ipMode'] = ipMode;
      (ingress ??= []).push(one);
    }
    end(r, lbTo);
  }
  end(r, to);
  return ingress && fit(ingress);
}
