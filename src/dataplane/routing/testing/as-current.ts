// Test helper: the kernel state right after a DesiredRouting was applied, as readRouting sees it.
import type { CurrentRouting } from '../plan.js';
import type { DesiredRouting } from '../types.js';

export function asCurrent(d: DesiredRouting): CurrentRouting {
  const v = d.device;
  return {
    device: v && {
      kind: 'vxlan',
      vni: v.vni,
      port: v.port,
      localIp: v.localIp,
      parentIface: v.parentIface,
      learning: false,
      mtu: v.mtu,
      mac: v.mac,
      up: true,
      addresses: v.address ? [v.address] : [],
    },
    routes: d.routes.map((r) => ({ ...r })),
    neighbors: d.neighbors.map((n) => ({ ...n })),
    fdb: d.fdb.map((f) => ({ ...f })),
  };
}
