// host-gw: a peer's blocks are routed to the peer's underlay address on the underlay interface.
// The kernel then needs the peer on the same L2 segment (the gateway must be ARP-reachable), so a
// peer outside our underlay subnet is refused with a reason rather than given a route that would
// silently send pod traffic to the default router.
import { ROUTE_PROTOCOL } from '../../kernel/names.js';
import type { BackendContext, PeerReach, RoutingBackend, ValidPeer } from '../types.js';

/** Plain routes via the peer's underlay address (host-gw, and vxlan's directRouting). */
export function directReach(ctx: BackendContext, peer: ValidPeer): PeerReach {
  const routes = peer.blocks.map((dst) => ({
    dst,
    type: 'unicast' as const,
    gateway: peer.underlayIP,
    dev: ctx.self.underlayIface,
    protocol: ROUTE_PROTOCOL,
  }));
  return { ok: true, routes, neighbors: [], fdb: [] };
}

export function notOnSegment(ctx: BackendContext, peer: ValidPeer): string {
  return (
    `its underlay address ${peer.underlayIP} is not inside this node's underlay subnet ` +
    `${ctx.self.underlayCIDR} (this node is ${ctx.self.underlayIP}), so it is not on the same L2 segment`
  );
}

export const hostGwBackend: RoutingBackend = {
  name: 'host-gw',
  device: () => undefined,
  podMTU: (ctx) => ctx.self.underlayMTU,
  reach(ctx, peer) {
    if (peer.sameSegment) return directReach(ctx, peer);
    return {
      ok: false,
      reason:
        `host-gw cannot reach peer ${peer.name}: ${notOnSegment(ctx, peer)}; no route installed for ${peer.blocks.join(', ')}. ` +
        'Use backend vxlan, or vxlan with directRouting, to reach nodes across routers',
    };
  },
};
