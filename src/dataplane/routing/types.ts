// The routing model as plain data: what the agent snapshots (RoutingSnapshot), what compile
// produces (DesiredRouting), and the narrow seam each backend implements (RoutingBackend).
import type { BackendName } from '../../model/types.js';

/** This node, as the agent sees it locally. */
export interface SelfNode {
  name: string;
  /** Address peers reach this node at; also the VXLAN local address. */
  underlayIP: string;
  /** Subnet of the underlay interface: peers inside it share our L2 segment. */
  underlayCIDR: string;
  /** Name of the underlay interface (host-gw routes leave through it; VXLAN binds to it). */
  underlayIface: string;
  underlayMTU: number;
  /** Pod CIDR blocks this node holds; the first one's first address is the VTEP address. */
  blocks: string[];
  /** MAC of twill0; defaults to vtepMac(name), which is what the node should advertise. */
  vtepMAC?: string | undefined;
}

/** A peer as advertised in its TwillNode spec (only the fields routing reads). */
export interface PeerNode {
  name: string;
  underlayIP: string;
  underlayCIDR?: string | undefined;
  backend: BackendName;
  vtepMAC?: string | undefined;
  vtepIP?: string | undefined;
  blocks: string[];
}

export interface VxlanConfig {
  vni: number;
  port: number;
  /** Same-segment peers are reached by plain routes, the rest through VXLAN. */
  directRouting: boolean;
}

export interface RoutingConfig {
  backend: BackendName;
  vxlan: VxlanConfig;
}

export interface RoutingSnapshot {
  self: SelfNode;
  peers: PeerNode[];
  config: RoutingConfig;
}

export interface VxlanDeviceSpec {
  kind: 'vxlan';
  name: string;
  vni: number;
  port: number;
  localIp: string;
  parentIface: string;
  mtu: number;
  mac: string;
  /** vtepIP/32, or undefined while the node holds no block. */
  address: string | undefined;
}

/** A route Twill owns. Every one carries `protocol` = ROUTE_PROTOCOL. */
export interface RouteSpec {
  dst: string;
  type: 'unicast' | 'blackhole';
  gateway?: string;
  dev?: string;
  onlink?: true;
  protocol: number;
  /** Only on routes read from the kernel with link scope (compile never asks for one). */
  scope?: 'link';
}

export interface NeighborSpec {
  dev: string;
  ip: string;
  mac: string;
}

export interface FdbSpec {
  dev: string;
  mac: string;
  /** Underlay address of the VTEP owning `mac`. */
  dst: string;
}

export interface PeerError {
  peer: string;
  reason: string;
}

export interface DesiredRouting {
  device?: VxlanDeviceSpec;
  routes: RouteSpec[];
  neighbors: NeighborSpec[];
  fdb: FdbSpec[];
  podMTU: number;
  peerErrors: PeerError[];
}

/** A peer that passed validation: addresses normalised, blocks parsed and not conflicting. */
export interface ValidPeer {
  name: string;
  underlayIP: string;
  backend: BackendName;
  /** Present only when the peer runs VXLAN and advertised a usable VTEP. */
  vtep: { ip: string; mac: string } | undefined;
  /** Why `vtep` is absent, for messages. */
  vtepIssue?: string;
  /** IPv4 blocks, normalised. */
  blocks: string[];
  /** True when the peer's underlay address lies in self's underlay CIDR. */
  sameSegment: boolean;
}

/** What one backend answers for one peer: the objects that reach it, or why it cannot. */
export type PeerReach =
  | { ok: true; routes: RouteSpec[]; neighbors: NeighborSpec[]; fdb: FdbSpec[] }
  | { ok: false; reason: string };

export interface BackendContext {
  self: SelfNode;
  config: RoutingConfig;
}

/**
 * One routing backend. Pure: no I/O. Shared work (validation, own-block blackholes, sorting,
 * conflict detection) lives in compile.ts, so a backend only says how to reach one peer.
 */
export interface RoutingBackend {
  readonly name: BackendName;
  /** The device this backend needs, if any (absent: apply removes twill0). */
  device(ctx: BackendContext): VxlanDeviceSpec | undefined;
  podMTU(ctx: BackendContext): number;
  reach(ctx: BackendContext, peer: ValidPeer): PeerReach;
}
