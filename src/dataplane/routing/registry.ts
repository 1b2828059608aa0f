// The explicit backend registry: adding a backend means adding a line here, never an import with
// side effects.
import type { BackendName } from '../../model/types.js';
import { hostGwBackend } from './host-gw/backend.js';
import type { RoutingBackend, RoutingConfig } from './types.js';
import { vxlanBackend } from './vxlan/backend.js';
import { DEFAULT_VXLAN_PORT, DEFAULT_VXLAN_VNI } from './vxlan/vtep.js';

export const backends: Readonly<Record<BackendName, RoutingBackend>> = {
  vxlan: vxlanBackend,
  'host-gw': hostGwBackend,
};

export function isBackendName(s: unknown): s is BackendName {
  return typeof s === 'string' && Object.hasOwn(backends, s);
}

/** The cluster default: VXLAN on the IANA port with Twill's VNI, no direct routing. */
export const DEFAULT_ROUTING_CONFIG: Readonly<RoutingConfig> = Object.freeze({
  backend: 'vxlan',
  vxlan: Object.freeze({ vni: DEFAULT_VXLAN_VNI, port: DEFAULT_VXLAN_PORT, directRouting: false }),
});
