// The body of POST /v1/policy/explain: {"from":"ns/pod"|IP, "to":"ns/pod"|IP|"svc/ns/name",
// "port":80, "protocol":"tcp"}. A Service destination may leave out the port when it has one.
import type { Flow, FlowEnd, FlowProtocol } from '../policy/index.js';
import { TwillError } from '../util/errors.js';
import { isIp } from '../util/ip.js';

function end(v: unknown, field: string): FlowEnd {
  if (typeof v !== 'string' || v === '') throw new TwillError('VALIDATION', `"${field}" must be NAMESPACE/POD or an IP address`);
  if (isIp(v)) return { ip: v };
  if (/^[a-z0-9-]+\/[a-z0-9.-]+$/.test(v)) return { pod: v };
  if (/^[a-z0-9.-]+$/.test(v)) return { pod: `default/${v}` };
  throw new TwillError('VALIDATION', `"${field}" is "${v}": expected NAMESPACE/POD${field === 'to' ? ', svc/NAMESPACE/SERVICE' : ''} or an IP address`);
}

export interface ExplainRequest {
  src: FlowEnd;
  /** A pod or address, or a Service by `namespace/name`. */
  dst: FlowEnd | { service: string };
  protocol: FlowProtocol;
  port?: number;
}

export function parseExplainRequest(body: unknown): ExplainRequest {
  const b = (body ?? {}) as Record<string, unknown>;
  const protocol = String(b['protocol'] ?? 'tcp').toUpperCase();
  if (!['TCP', 'UDP', 'SCTP', 'ICMP'].includes(protocol)) throw new TwillError('VALIDATION', `"protocol" must be tcp, udp, sctp or icmp, got ${JSON.stringify(b['protocol'])}`);
  const to = b['to'];
  const svc = typeof to === 'string' ? /^svc\/([a-z0-9-]+)\/([a-z0-9.-]+)$/.exec(to) : null;
  if (typeof to === 'string' && to.startsWith('svc/') && !svc) throw new TwillError('VALIDATION', `"to" is "${to}": a Service is svc/NAMESPACE/NAME`);
  if (svc && protocol === 'ICMP') throw new TwillError('VALIDATION', 'Services translate TCP, UDP and SCTP only; ICMP to a Service address is not proxied');
  const port = b['port'];
  const portOk = typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535;
  if (protocol !== 'ICMP' && !portOk && !(svc && port === undefined)) throw new TwillError('VALIDATION', `"port" must be 1..65535 for ${protocol}`);
  return {
    src: end(b['from'], 'from'),
    dst: svc ? { service: `${svc[1]}/${svc[2]}` } : end(to, 'to'),
    protocol: protocol as FlowProtocol,
    ...(typeof port === 'number' ? { port } : {}),
  };
}

/** A plain flow (no Service destination). */
export function parseFlow(body: unknown): Flow {
  const r = parseExplainRequest(body);
  if ('service' in r.dst) throw new TwillError('VALIDATION', `"to": a Service is not a flow end here`);
  return { src: r.src, dst: r.dst, protocol: r.protocol, ...(r.port !== undefined ? { port: r.port } : {}) };
}
