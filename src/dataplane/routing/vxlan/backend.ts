// vxlan: one twill0 device per node (learning off, bound to the underlay), and per peer one
// permanent neighbour (peer VTEP IP → VTEP MAC), one FDB entry (VTEP MAC → peer underlay IP) and
// one onlink route per peer block via the peer's VTEP IP. Nothing is learned or flooded, so the
// kernel never asks anyone: every mapping comes from the datastore.
import { ROUTE_PROTOCOL, VXLAN_DEVICE } from '../../kernel/names.js';
import { cidrContains, parseCidr, parseIp } from '../../../util/ip.js';
import { directReach, notOnSegment } from '../host-gw/backend.js';
import type { BackendContext, PeerReach, RoutingBackend, ValidPeer } from '../types.js';
import { VXLAN_OVERHEAD_V4, vtepIp, vtepMac } from './vtep.js';

function encapReach(peer: ValidPeer, vtep: { ip: string; mac: string }): PeerReach {
  return {
    ok: true,
    routes: peer.blocks.map((dst) => ({
      dst,
      type: 'unicast' as const,
      gateway: vtep.ip,
      dev: VXLAN_DEVICE,
      onlink: true as const,
      protocol: ROUTE_PROTOCOL,
    })),
    neighbors: [{ dev: VXLAN_DEVICE, ip: vtep.ip, mac: vtep.mac }],
    fdb: [{ dev: VXLAN_DEVICE, mac: vtep.mac, dst: peer.underlayIP }],
  };
}

function podMTU(ctx: BackendContext): number {
  return ctx.self.underlayMTU - VXLAN_OVERHEAD_V4;
}

export const vxlanBackend: RoutingBackend = {
  name: 'vxlan',
  podMTU,
  device(ctx) {
    const addr = vtepIp(ctx.self.blocks);
    return {
      kind: 'vxlan',
      name: VXLAN_DEVICE,
      vni: ctx.config.vxlan.vni,
      port: ctx.config.vxlan.port,
      localIp: ctx.self.underlayIP,
      parentIface: ctx.self.underlayIface,
      mtu: podMTU(ctx),
      mac: ctx.self.vtepMAC ?? vtepMac(ctx.self.name),
      address: addr === undefined ? undefined : `${addr}/32`,
    };
  },
  reach(ctx, peer) {
    if (ctx.config.vxlan.directRouting && peer.sameSegment) return directReach(ctx, peer);
    if (peer.vtep) {
      // The VTEP address is the first address of the peer's first block; outside its (accepted)
      // blocks it would shadow someone else's address on twill0.
      const ip = parseIp(peer.vtep.ip);
      if (!peer.blocks.some((b) => cidrContains(parseCidr(b), ip))) {
        return { ok: false, reason: `VTEP address ${peer.vtep.ip} is not inside any block it holds (${peer.blocks.join(', ')}); skipped` };
      }
      return encapReach(peer, peer.vtep);
    }
    // A peer without a VTEP (it runs host-gw, e.g. mid-migration) can still be routed to directly
    // when it shares our segment; across a router there is no way to reach it.
    if (peer.sameSegment) return directReach(ctx, peer);
    return {
      ok: false,
      reason:
        `no usable VTEP (${peer.vtepIssue ?? 'none advertised'}) and ${notOnSegment(ctx, peer)}; ` +
        `no route installed for ${peer.blocks.join(', ')}. Run the peer with backend vxlan`,
    };
  },
};
