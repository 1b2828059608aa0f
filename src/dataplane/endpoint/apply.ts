// Applying an EndpointPlan: create (with undo), delete (idempotent), check (CNI CHECK).
import { TwillError } from '../../util/errors.js';
import type { UndoStack } from '../../util/undo.js';
import { hostCidr, normalizeIp } from '../../util/ip.js';
import { POD_GATEWAY_V4, ROUTE_PROTOCOL } from '../kernel/names.js';
import { Netlink, netlink } from '../kernel/netlink.js';
import { ipBatchInNetns, ipInNetns, ipJsonInNetns, netnsExists } from '../kernel/netns.js';
import { podBatch, type EndpointPlan, type PodSide } from './compile.js';

/** Waits for every promise; then throws the first failure, if any (nothing is left running). */
async function allOrFirstError(ps: Promise<unknown>[]): Promise<void> {
  for (const r of await Promise.allSettled(ps)) if (r.status === 'rejected') throw r.reason;
}

/**
 * Work inside a pod's namespace: over an rtnetlink socket opened there when the agent can enter
 * namespaces (setns.ts, ~1 ms), else through `ip` run there (`viaIp`, ~4–5 ms per exec).
 */
async function inPodNamespace<T>(netns: string, viaNetlink: (nl: Netlink) => Promise<T>, viaIp: () => Promise<T>): Promise<T> {
  const nl = Netlink.openIn(netns);
  if (!nl) return viaIp();
  try {
    return await viaNetlink(nl);
  } finally {
    nl.close();
  }
}

/** Applies the pod side inside the pod's namespace (the fallback: one `ip -batch`). */
async function configurePod(netns: string, pod: PodSide): Promise<void> {
  await inPodNamespace(
    netns,
    async (nl) => {
      const { index } = await nl.mustGetLink(pod.ifname);
      // Three round trips, each with its requests in flight together: what does not depend on
      // anything; routes that make the gateways reachable; routes through the gateways.
      await allOrFirstError([
        nl.setLink(index, { up: true }),
        ...pod.addresses.map((a) => nl.addAddress(index, a.cidr, a.nodad ? { nodad: true } : {})),
        ...pod.neighbors.map((n) => nl.replaceNeighbor({ ...n, dev: index })),
      ]);
      await allOrFirstError(pod.routes.filter((r) => !r.gateway).map((r) => nl.replaceRoute({ ...r, oif: index })));
      await allOrFirstError(pod.routes.filter((r) => r.gateway).map((r) => nl.replaceRoute({ ...r, oif: index })));
    },
    () => ipBatchInNetns(netns, podBatch(pod)),
  );
}

/** Creates the pod's interface and routes. Every step pushes its inverse onto `undo`. */
export async function addEndpoint(plan: EndpointPlan, undo: UndoStack, lap?: (step: string, since: number) => void): Promise<void> {
  const nl = netlink();
  const { spec } = plan;
  let t = performance.now();
  // A leftover host veth from an attachment that was never cleaned up would make creation fail
  // with EEXIST; the name is derived from (containerId, ifname), so it can only be ours.
  await nl.deleteLink(plan.hostIface);
  await nl.createVeth({
    name: plan.hostIface,
    mac: plan.hostMac,
    mtu: spec.mtu,
    up: true,
    peer: { name: spec.ifname, netnsPath: spec.netns, mtu: spec.mtu, mac: plan.podMac },
  });
  undo.push(`delete veth ${plan.hostIface}`, () => nl.deleteLink(plan.hostIface));
  lap?.('veth', t);
  // The pod side and the node's routes to the pod touch different namespaces: both at once.
  t = performance.now();
  // Both settle before an error propagates, so the undo stack never races a step still running.
  await allOrFirstError([
    configurePod(spec.netns, plan.pod).then(() => lap?.('pod', t)),
    (async () => {
      for (const r of plan.hostRoutes) await nl.replaceRoute(r);
      lap?.('routes', t);
    })(),
  ]);
}

/**
 * Removes the pod's interface. Never fails because something is already gone. Deleting the host
 * end of a veth pair removes the pod end and the /32 route with it.
 */
export async function deleteEndpoint(a: { hostIface: string; netns?: string | undefined; ifname: string }): Promise<void> {
  const removed = await netlink().deleteLink(a.hostIface);
  const { netns } = a;
  if (!removed && netns && netnsExists(netns)) {
    // The host end is gone but the pod may still hold an interface of that name we created.
    await inPodNamespace(
      netns,
      // deleteLink answers false for an absent link; any other failure is DEL's failure.
      async (nl) => void (await nl.deleteLink(a.ifname)),
      async () =>
        void (await ipInNetns(netns, ['link', 'del', a.ifname]).catch((e: unknown) => {
          // Only "it is not there" is success for DEL; anything else is reported.
          if (!/Cannot find device|does not exist/.test(e instanceof Error ? e.message + String((e as { stderr?: string }).stderr ?? '') : String(e))) throw e;
        })),
    );
  }
}

interface IpAddrJson {
  ifname: string;
  operstate?: string;
  flags?: string[];
  mtu?: number;
  address?: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}
interface IpRouteJson {
  dst: string;
  gateway?: string;
  dev?: string;
}

interface PodSideState {
  up: boolean;
  mac: string | undefined;
  /** Addresses on the interface, `ip/prefix`, canonical. */
  cidrs: Set<string>;
  /** Gateways of the IPv4 default routes through the interface. */
  defaultVia: string[];
}

/** The pod interface as the kernel has it: over a socket inside the namespace, else with `ip -j`. */
async function readPodSide(netns: string, ifname: string): Promise<PodSideState | undefined> {
  return inPodNamespace(
    netns,
    async (nl) => {
      const link = await nl.getLink(ifname);
      if (!link) return undefined;
      // One dump at a time: a netlink socket cannot interleave two.
      const addrs = await nl.listAddresses();
      const routes = await nl.listRoutes({ family: 4 });
      return {
        up: link.up,
        mac: link.mac,
        cidrs: new Set(addrs.filter((a) => a.dev === link.index).map((a) => a.cidr)),
        defaultVia: routes.filter((r) => r.dst === '0.0.0.0/0' && r.oif === link.index && r.gateway).map((r) => r.gateway!),
      };
    },
    async () => {
      // Read-only (CHECK): an interface `ip` cannot show is reported by the caller as missing.
      // why: read-only (CHECK): a missing interface is reported by the caller
      const pod = (await ipJsonInNetns<IpAddrJson[]>(netns, ['addr', 'show', 'dev', ifname]).catch(() => []))[0];
      if (!pod) return undefined;
      const routes = await ipJsonInNetns<IpRouteJson[]>(netns, ['route', 'show']);
      return {
        up: (pod.flags ?? []).includes('UP'),
        mac: pod.address,
        cidrs: new Set((pod.addr_info ?? []).map((a) => `${normalizeIp(a.local)}/${a.prefixlen}`)),
        defaultVia: routes.filter((r) => r.dst === 'default' && r.dev === ifname && r.gateway).map((r) => r.gateway!),
      };
    },
  );
}

/** Verifies that the kernel still holds what the plan says. Throws CHECK_FAILED listing every drift. */
export async function checkEndpoint(plan: EndpointPlan): Promise<void> {
  const problems: string[] = [];
  const { spec } = plan;
  const nl = netlink();
  if (!netnsExists(spec.netns)) {
    throw new TwillError('CHECK_FAILED', `network namespace ${spec.netns} does not exist`);
  }
  const host = await nl.getLink(plan.hostIface);
  if (!host) problems.push(`host interface ${plan.hostIface} is missing`);
  else {
    if (!host.up) problems.push(`host interface ${plan.hostIface} is down`);
    if (host.mtu !== spec.mtu) problems.push(`host interface ${plan.hostIface} has MTU ${host.mtu}, expected ${spec.mtu}`);
    const routes = await nl.listRoutes({ protocol: ROUTE_PROTOCOL });
    for (const want of plan.hostRoutes) {
      if (!routes.some((r) => r.dst === want.dst && r.oif === host.index)) {
        problems.push(`route ${want.dst} via ${plan.hostIface} is missing on the node`);
      }
    }
  }
  const pod = await readPodSide(spec.netns, spec.ifname);
  if (!pod) problems.push(`interface ${spec.ifname} is missing in ${spec.netns}`);
  else {
    if (!pod.up) problems.push(`interface ${spec.ifname} is down`);
    if (pod.mac !== plan.podMac) problems.push(`interface ${spec.ifname} has MAC ${pod.mac ?? '?'}, expected ${plan.podMac}`);
    for (const ip of spec.ips) if (!pod.cidrs.has(hostCidr(ip))) problems.push(`address ${hostCidr(ip)} is missing on ${spec.ifname}`);
    if (!pod.defaultVia.includes(POD_GATEWAY_V4)) problems.push(`default route via ${POD_GATEWAY_V4} dev ${spec.ifname} is missing`);
  }
  if (problems.length) {
    throw new TwillError('CHECK_FAILED', `attachment ${spec.containerId}/${spec.ifname} drifted: ${problems.join('; ')}`);
  }
}
