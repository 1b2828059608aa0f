// Routing: reach every other node's pod blocks. compileRouting (pure) → applyRouting (netlink).
export type {
  BackendContext,
  DesiredRouting,
  FdbSpec,
  NeighborSpec,
  PeerError,
  PeerNode,
  PeerReach,
  RouteSpec,
  RoutingBackend,
  RoutingConfig,
  RoutingSnapshot,
  SelfNode,
  ValidPeer,
  VxlanConfig,
  VxlanDeviceSpec,
} from './types.js';
export { compileRouting } from './compile.js';
export { renderRouting } from './render.js';
export { applyRouting, readRouting, type ApplyRoutingOptions } from './apply.js';
export { planRouting, formatRoute, type ApplySummary, type CurrentRouting, type Op } from './plan.js';
export { backends, isBackendName, DEFAULT_ROUTING_CONFIG } from './registry.js';
export { DEFAULT_VXLAN_PORT, DEFAULT_VXLAN_VNI, VXLAN_OVERHEAD_V4, vtepIp, vtepMac } from './vxlan/vtep.js';
