// `twill policy explain --to svc/NS/NAME` (or a Service address): NetworkPolicy applies after the
// Service's translation, to the endpoint pod, as in Kubernetes. So the answer is the endpoints
// this node's datapath would pick for the flow — from the same plans the services table is
// compiled from (services/resolve.ts) — and the policy verdict for each. Pure: the plans and the
// policy evaluator are passed in.
import type { Flow, FlowEnd, FlowProtocol, Verdict } from '../../policy/index.js';
import { explain } from '../../policy/index.js';
import type { EndpointTarget, ResolvedServices, ServicePortPlan } from '../../services/index.js';
import { TwillError } from '../../util/errors.js';
import { cidrContains, tryParseCidr, tryParseIp } from '../../util/ip.js';

/** Where a flow is sent: a Service by name (svc/NS/NAME), or an address that may be one's. */
export type ServiceTarget = { service: string } | { ip: string };

export interface ServiceExplainInput {
  resolved: ResolvedServices;
  /** This node: its name and the addresses its NodePorts answer on. */
  node: { name: string; addresses: string[] };
  podCidrs: string[];
  src: FlowEnd;
  to: ServiceTarget;
  protocol: FlowProtocol;
  port?: number | undefined;
  /** The policy evaluator (the agent's current snapshot). */
  evaluate: (f: Flow) => Verdict;
}

export interface EndpointVerdict {
  ip: string;
  port: number;
  local: boolean;
  verdict: Verdict;
}

export interface ServiceExplanation {
  /** All reached endpoints allowed (a connection may land on any of them); false with none. */
  allowed: boolean;
  service: { namespace: string; name: string; address: string; port: number; protocol: FlowProtocol; via: 'ClusterIP' | 'external IP' | 'NodePort' };
  /** Why the endpoint set is what it is (traffic policy, masquerade), for people. */
  notes: string[];
  endpoints: EndpointVerdict[];
}

const proto = (p: FlowProtocol): string => p.toLowerCase();

function portsOf(plans: ServicePortPlan[]): string {
  return plans.map((p) => `${p.port}/${p.protocol}`).join(', ') || 'none';
}

/** The plan and the address kind the flow hits, or undefined when an address is no Service's. */
function findPlan(i: ServiceExplainInput): { plan: ServicePortPlan; address: string; via: ServiceExplanation['service']['via'] } | undefined {
  const plans = i.resolved.ports.filter((p) => p.protocol === proto(i.protocol) && p.family === 4);
  if ('service' in i.to) {
    const key = i.to.service;
    const mine = i.resolved.ports.filter((p) => `${p.namespace}/${p.name}` === key);
    if (!mine.length) throw new TwillError('NOT_FOUND', `Service ${key} is not served by this agent: it does not exist, has no ports, or is headless, ExternalName or another proxy's`);
    const same = plans.filter((p) => `${p.namespace}/${p.name}` === key);
    const pick = i.port === undefined ? (same.length === 1 ? same[0] : undefined) : same.find((p) => p.port === i.port);
    if (!pick) throw new TwillError('VALIDATION', `Service ${key}: ${i.port === undefined ? 'give --port' : `no port ${i.port}/${proto(i.protocol)}`} (its ports: ${portsOf(mine)})`);
    if (!pick.clusterIP) throw new TwillError('VALIDATION', `Service ${key} has no IPv4 ClusterIP`);
    return { plan: pick, address: pick.clusterIP, via: 'ClusterIP' };
  }
  const ip = i.to.ip;
  const at = (p: ServicePortPlan): boolean => i.port === undefined || p.port === i.port;
  const cluster = plans.find((p) => p.clusterIP === ip && at(p));
  if (cluster) return { plan: cluster, address: ip, via: 'ClusterIP' };
  const ext = plans.find((p) => p.externalIPs.includes(ip) && at(p));
  if (ext) return { plan: ext, address: ip, via: 'external IP' };
  if (i.node.addresses.includes(ip) && i.port !== undefined) {
    const np = plans.find((p) => p.nodePort === i.port);
    if (np) return { plan: np, address: ip, via: 'NodePort' };
  }
  return undefined;
}

function inPodNetwork(src: FlowEnd, podCidrs: string[]): boolean {
  if ('pod' in src) return true;
  if ('node' in src) return false;
  const ip = tryParseIp(src.ip);
  return ip !== undefined && podCidrs.some((c) => {
    const p = tryParseCidr(c);
    return p !== undefined && cidrContains(p, ip);
  });
}

/** Undefined when `to` is an address no Service answers on (explain it as a plain flow). */
export function explainService(i: ServiceExplainInput): ServiceExplanation | undefined {
  const hit = findPlan(i);
  if (!hit) return undefined;
  const { plan, via } = hit;
  const inside = inPodNetwork(i.src, i.podCidrs);
  const notes: string[] = [];
  let targets: EndpointTarget[];
  if (via === 'ClusterIP') {
    targets = plan.internalLocal ? plan.localEndpoints : plan.endpoints;
    if (plan.internalLocal) notes.push(`internalTrafficPolicy: Local: only endpoints on ${i.node.name}`);
  } else {
    // Pods reaching an external address or a NodePort are inside the cluster and use every endpoint.
    const local = plan.externalLocal && !inside;
    targets = local ? plan.localEndpoints : plan.endpoints;
    if (local) notes.push(`externalTrafficPolicy: Local: only endpoints on ${i.node.name}, the client's address is kept`);
  }
  const masqueraded = via === 'ClusterIP' ? !inside : !inside && !plan.externalLocal;
  let src = i.src;
  if (masqueraded) {
    const nodeIp = i.node.addresses[0];
    notes.push(`the source is outside the pod network: masqueraded, the endpoint sees ${i.node.name}${nodeIp ? ` (${nodeIp})` : ''}`);
    if (nodeIp) src = { node: i.node.name, ip: nodeIp };
  }
  if (!plan.endpoints.length) notes.push('no endpoints: new connections are rejected at once (TCP reset, ICMP port unreachable)');
  else if (!targets.length) notes.push(`no usable endpoint on ${i.node.name}: the packet is dropped`);
  if (plan.affinitySeconds !== undefined) notes.push(`sessionAffinity: ClientIP (${plan.affinitySeconds} s): a client stays with the endpoint it reached first`);
  const endpoints = targets.map((t) => ({ ip: t.ip, port: t.port, local: t.local, verdict: i.evaluate({ src, dst: { ip: t.ip }, protocol: i.protocol, port: t.port }) }));
  return {
    allowed: endpoints.length > 0 && endpoints.every((e) => e.verdict.allowed),
    service: { namespace: plan.namespace, name: plan.name, address: hit.address, port: via === 'NodePort' ? plan.nodePort! : plan.port, protocol: i.protocol, via },
    notes,
    endpoints,
  };
}

/** For people: the Service line, one line per endpoint, then each endpoint's full verdict. */
export function formatServiceExplanation(e: ServiceExplanation): string {
  const s = e.service;
  const n = e.endpoints.length;
  const lines = [`${e.allowed ? 'ALLOWED' : 'DENIED'}  svc/${s.namespace}/${s.name} ${s.address}:${s.port}/${s.protocol} (${s.via}) → ${n} endpoint${n === 1 ? '' : 's'}`];
  for (const note of e.notes) lines.push(`  ${note}`);
  for (const ep of e.endpoints) {
    const d = ep.verdict.dst;
    const who = d.kind === 'pod' ? `pod ${d.pod} on ${d.node}` : d.kind === 'host' ? `node ${d.node}` : 'not a known pod';
    lines.push(`  ${ep.verdict.allowed ? 'ALLOWED' : 'DENIED '}  ${ep.ip}:${ep.port}  ${who}${ep.local ? ' (this node)' : ''}`);
  }
  for (const ep of e.endpoints) lines.push('', `── endpoint ${ep.ip}:${ep.port}`, explain(ep.verdict).trimEnd());
  return `${lines.join('\n')}\n`;
}
