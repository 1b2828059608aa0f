// The body of POST /v1/policy/explain: {"from":"ns/pod"|IP, "to":"ns/pod"|IP, "port":80, "protocol":"tcp"}.
import type { Flow, FlowEnd, FlowProtocol } from '../policy/index.js';
import { TwillError } from '../util/errors.js';
import { isIp } from '../util/ip.js';

function end(v: unknown, field: string): FlowEnd {
  if (typeof v !== 'string' || v === '') throw new TwillError('VALIDATION', `"${field}" must be NAMESPACE/POD or an IP address`);
  if (isIp(v)) return { ip: v };
  if (/^[a-z0-9-]+\/[a-z0-9.-]+$/.test(v)) return { pod: v };
  if (/^[a-z0-9.-]+$/.test(v)) return { pod: `default/${v}` };
  throw new TwillError('VALIDATION', `"${field}" is "${v}": expected NAMESPACE/POD or an IP address`);
}

export function parseFlow(body: unknown): Flow {
  const b = (body ?? {}) as Record<string, unknown>;
  const protocol = String(b['protocol'] ?? 'tcp').toUpperCase();
  if (!['TCP', 'UDP', 'SCTP', 'ICMP'].includes(protocol)) throw new TwillError('VALIDATION', `"protocol" must be tcp, udp, sctp or icmp, got ${JSON.stringify(b['protocol'])}`);
  const port = b['port'];
  if (protocol !== 'ICMP' && (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)) {
    throw new TwillError('VALIDATION', `"port" must be 1..65535 for ${protocol}`);
  }
  return { src: end(b['from'], 'from'), dst: end(b['to'], 'to'), protocol: protocol as FlowProtocol, ...(typeof port === 'number' ? { port } : {}) };
}
