// POST /v1/policy/explain: its body {"from":"ns/pod"|IP, "to":"ns/pod"|IP|"svc/ns/name",
// "port":80, "protocol":"tcp"} (a Service destination may leave out the port when it has one), and
// the answer from the agent's policy snapshot and Service plans.
import type { Flow, FlowEnd, FlowProtocol, Verdict } from '../policy/index.js';
import { explain } from '../policy/index.js';
import type { ResolvedServices } from '../services/index.js';
import { TwillError } from '../util/errors.js';
import { isIp } from '../util/ip.js';
import { explainService, formatServiceExplanation } from './services/explain.js';

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

export interface ExplainDeps {
  /** The policy evaluator; undefined when the agent runs standalone. */
  policy: ((f: Flow) => Verdict) | undefined;
  /** The Service plans now; undefined when not read yet or not served (`servicesOff` says why). */
  services: { resolveNow(): { node: { name: string; addresses: string[]; podCidrs: string[] }; resolved: ResolvedServices } | undefined } | undefined;
  servicesOff: () => string;
}

/**
 * A flow's verdict; when it goes to a Service (svc/NS/NAME, or an address a Service answers on),
 * the endpoints this node would translate it to and the verdict for each (policy applies after
 * the translation, to the endpoint pod).
 */
export function explainRequest(req: ExplainRequest, d: ExplainDeps): { verdict: { allowed: boolean }; text: string } {
  const evaluate = d.policy;
  if (!evaluate) throw new TwillError('NOT_FOUND', 'this agent runs standalone: NetworkPolicy needs a datastore (--datastore)');
  const dst = req.dst;
  const toService = 'service' in dst || ('ip' in dst && !('pod' in dst) && !('node' in dst));
  if (toService) {
    const now = d.services?.resolveNow();
    if (!now && 'service' in dst) throw new TwillError(d.services ? 'TRY_AGAIN' : 'NOT_FOUND', d.services ? 'Services are not read from the datastore yet; retry shortly' : d.servicesOff());
    const r = now && explainService({
      resolved: now.resolved, node: now.node, podCidrs: now.node.podCidrs, src: req.src, to: 'service' in dst ? { service: dst.service } : { ip: dst.ip },
      protocol: req.protocol, port: req.port, evaluate,
    });
    if (r) return { verdict: r, text: formatServiceExplanation(r) };
  }
  if ('service' in dst) throw new TwillError('INTERNAL', 'unreachable: a Service destination without an explanation');
  const verdict = evaluate({ src: req.src, dst, protocol: req.protocol, ...(req.port !== undefined ? { port: req.port } : {}) });
  return { verdict, text: explain(verdict) };
}
