// Every kernel object Twill creates is named here, once. Apply code never deletes an object that
// does not carry one of these names or marks: that is how Twill shares a node with other software.
// This file must stay dependency-free: the CNI shim imports it.
import type { createHash as CreateHash } from 'node:crypto';

// node:crypto costs ~5 ms to load, and every twill-cni run pays for what it loads at start-up;
// only DEL without the agent needs a hash, so crypto is loaded on first use (getBuiltinModule,
// Node >= 20.16, works in the shim's CommonJS bundle and in ES modules alike).
let sha256Hex: ((s: string) => string) | undefined;
function sha256(s: string): string {
  if (!sha256Hex) {
    const crypto = (process as unknown as { getBuiltinModule: (id: string) => unknown }).getBuiltinModule('node:crypto');
    const { createHash } = crypto as { createHash: typeof CreateHash };
    sha256Hex = (x) => createHash('sha256').update(x).digest('hex');
  }
  return sha256Hex(s);
}

/** Prefix of every host-side pod veth: `twl` + 11 hex chars of sha256(containerId/ifname). */
export const HOST_VETH_PREFIX = 'twl';

/** The VXLAN device of the vxlan backend. */
export const VXLAN_DEVICE = 'twill0';

/** The WireGuard device of `encryption: wireguard` (kernel module or wireguard-go's TUN). */
export const WIREGUARD_DEVICE = 'twill-wg';

/** Default UDP port of the WireGuard device (configurable in the ClusterConfig). */
export const DEFAULT_WIREGUARD_PORT = 51871;

/**
 * Routing table holding `<peer pod block> dev twill-wg` routes. A policy rule (priority
 * WIREGUARD_RULE_PRIORITY) looks it up before main for every packet not carrying
 * WIREGUARD_FWMARK, the mark WireGuard puts on its own UDP packets, so the tunnel never routes
 * itself into itself. A destination without a route here falls through to main (the backend's
 * route), where strict mode's nftables table drops it.
 *
 * The mark shares no bit with SERVICES_MASQUERADE_MARK (nor with kube-proxy's 0x4000 and
 * 0x8000): it used to be 0x7117, which carries the 0x2000 bit, so the services table masqueraded
 * WireGuard's own packets with a random source port, peers roamed their endpoint to that port, and
 * every reconcile set it back (names.test.ts checks the bits).
 */
export const WIREGUARD_ROUTE_TABLE = 117;
export const WIREGUARD_RULE_PRIORITY = 99;
export const WIREGUARD_FWMARK = 0x1117;

/** nftables tables, one per owner (inet family unless noted). */
export const NFT_TABLE_POLICY = 'twill-policy';
export const NFT_TABLE_ENCRYPTION = 'twill-encrypt';
export const NFT_TABLE_NAT = 'twill-nat';
export const NFT_TABLE_SERVICES = 'twill-services';
/** Marks the connections flow records are made of, so the kernel sends conntrack events for those only. */
export const NFT_TABLE_FLOWS = 'twill-flows';

/**
 * Packet mark bit meaning "masquerade this packet in postrouting": set by the services table when a
 * connection needs the node as its source (from outside the cluster, hairpin). Only this bit is
 * read, set and cleared, so other software's marks pass through (kube-proxy uses 0x4000).
 */
export const SERVICES_MASQUERADE_MARK = 0x2000;

/**
 * The pod's default gateway. Every pod on every node uses the same link-local address; the
 * node answers for it because the pod holds a permanent neighbour entry for it pointing at
 * HOST_VETH_MAC (Calico's scheme, without proxy ARP).
 */
export const POD_GATEWAY_V4 = '169.254.1.1';
export const POD_GATEWAY_V6 = 'fe80::1';

/** Every host-side pod veth carries this MAC, so a pod's gateway neighbour entry is a constant. */
export const HOST_VETH_MAC = 'ee:ee:ee:ee:ee:ee';

/**
 * Route protocol number stamped on every route Twill installs (`proto 116` in `ip route`).
 * Diff-and-apply only ever deletes routes carrying it.
 */
export const ROUTE_PROTOCOL = 116;

/** Main routing table. */
export const ROUTE_TABLE_MAIN = 254;

/** Where runtime state lives by default. */
export const DEFAULT_RUN_DIR = '/run/twill';
export const DEFAULT_AGENT_SOCKET = '/run/twill/agent.sock';
export const DEFAULT_STATE_DIR = '/var/lib/twill';

/** Tombstones written by the shim when the agent is down live beside the agent socket. */
export function tombstoneDir(agentSocket: string): string {
  const i = agentSocket.lastIndexOf('/');
  return `${i > 0 ? agentSocket.slice(0, i) : '.'}/tombstones`;
}

/** Host-side veth name for a pod attachment: deterministic so DEL works without any state. */
export function hostVethName(containerId: string, ifname: string): string {
  const h = sha256(`${containerId}/${ifname}`);
  return `${HOST_VETH_PREFIX}${h.slice(0, 11)}`;
}

/** Where `nft -f` scripts are written (kept: they are the debug artefact). */
export function nftScriptPath(runDir: string, table: string): string {
  return `${runDir}/nft/${table}.nft`;
}
