// The encryption model as plain data: what the agent snapshots (EncryptionSnapshot) and what
// compile produces (DesiredEncryption). Routing backends never see any of it: WireGuard sits
// beside them, in its own route table, and takes pod traffic first when it can carry it.

/** This node, as the encryption controller sees it. */
export interface EncryptionSelf {
  name: string;
  underlayIP: string;
  underlayMTU: number;
  /** Pod blocks this node holds. */
  blocks: string[];
  /** Our public key (base64); compile refuses a peer advertising the same one. */
  publicKey: string;
}

/** A peer as advertised in its TwillNode spec. */
export interface EncryptionPeer {
  name: string;
  underlayIP: string;
  blocks: string[];
  wireguard?: { publicKey: string; port: number } | undefined;
}

export interface EncryptionConfig {
  port: number;
  strict: boolean;
  /** Peers' node addresses become allowed IPs and are routed through the tunnel too. */
  nodeTraffic: boolean;
  /** The cluster pod pools: strict mode drops pool → pool traffic that leaves in clear. */
  pools: string[];
}

export interface EncryptionSnapshot {
  self: EncryptionSelf;
  peers: EncryptionPeer[];
  config: EncryptionConfig;
}

export interface WgDeviceSpec {
  name: string;
  listenPort: number;
  fwmark: number;
  mtu: number;
}

export interface WgPeerSpec {
  /** Node name, for messages and status only (WireGuard knows peers by key). */
  node: string;
  publicKey: string;
  endpoint: string;
  /** Sorted CIDRs. */
  allowedIPs: string[];
  /**
   * Seconds. Setting it makes the device send a keepalive — hence a handshake — at once, so a
   * new peer's tunnel comes up when it is configured instead of on the first packet, whose lost
   * handshake (the other side not knowing us yet) WireGuard would retry only after 5 s.
   */
  persistentKeepalive: number;
}

/** A route in WIREGUARD_ROUTE_TABLE: `dst dev twill-wg scope link proto 116`. */
export interface WgRouteSpec {
  dst: string;
  dev: string;
  table: number;
  protocol: number;
}

export interface WgRuleSpec {
  priority: number;
  table: number;
  /** Packets carrying this mark (WireGuard's own) skip the rule. */
  notFwmark: number;
}

export interface DesiredEncryption {
  device: WgDeviceSpec;
  peers: WgPeerSpec[];
  routes: WgRouteSpec[];
  rule: WgRuleSpec;
  /** The whole strict-mode table as nft text, or undefined when strict mode is off. */
  strictTable: string | undefined;
  /** WireGuard's overhead subtracted from the underlay MTU: what pods may use across nodes. */
  podMTU: number;
  peerErrors: { peer: string; reason: string }[];
}
