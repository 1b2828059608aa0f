// A node's VTEP identity. Both values are derived, never stored, so a re-created twill0 gets the
// same MAC and every peer's neighbour and FDB entries stay valid across agent restarts.
import { createHash } from 'node:crypto';
import { cidrAddr, formatIp, tryParseCidr } from '../../../util/ip.js';

/** Bytes VXLAN adds over an IPv4 underlay: outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const VXLAN_OVERHEAD_V4 = 50;

export const DEFAULT_VXLAN_VNI = 4096;
export const DEFAULT_VXLAN_PORT = 4789;

/**
 * Locally administered, unicast MAC from the node name: the first six bytes of sha256(name) with
 * the multicast bit cleared and the locally-administered bit set.
 */
export function vtepMac(nodeName: string): string {
  const h = createHash('sha256').update(`twill-vtep/${nodeName}`).digest();
  const b = [...h.subarray(0, 6)];
  b[0] = (b[0]! & 0xfe) | 0x02;
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The VTEP address: the first address of the node's first IPv4 block (undefined without one). */
export function vtepIp(blocks: readonly string[]): string | undefined {
  for (const b of blocks) {
    const c = tryParseCidr(b);
    if (c?.family === 4) return formatIp(cidrAddr(c, 0n));
  }
  return undefined;
}
