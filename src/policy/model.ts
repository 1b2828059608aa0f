// The desired state of the `inet twill-policy` table as plain data. Elements and rules are kept
// as the exact text nft receives, so the diff compares what the kernel would compare and the
// renderer has nothing left to decide.

export interface NftCounter {
  name: string;
  comment?: string;
}

export interface NftElement {
  /** Key text, e.g. `10.244.1.2-10.244.1.5 . tcp . 80` or `"twl0a1b2c3d4e5" . 10.244.1.2`. */
  key: string;
  /** Map value text, e.g. `goto pe_0123456789ab`; absent for sets. */
  value?: string;
}

export interface NftSet {
  name: string;
  /** Key types, concatenated with ` . ` (e.g. ['ipv4_addr', 'inet_proto', 'inet_service']). */
  type: string[];
  /** 'verdict' for verdict maps, 'data' for maps to data (`dataType`); absent for sets. */
  map?: 'verdict' | 'data';
  /** Value field types of a data map, e.g. ['ipv4_addr', 'inet_service']. */
  dataType?: string[];
  /**
   * Declared with `typeof` instead of `type` (needed when a key field has no named type, e.g. a
   * `numgen` result): the text after `typeof`, including ` : value` for maps.
   */
  typeof?: string;
  flags: string[];
  comment?: string;
  /** Default element timeout (e.g. `10800s`) for sets filled from the packet path. */
  timeout?: string;
  /** Sorted, unique by key. */
  elements: NftElement[];
}

export interface NftBaseChain {
  type: 'filter' | 'nat';
  hook: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
  /** A named priority ('raw', 'filter', …) or a number. */
  priority: string;
  policy: 'accept' | 'drop';
}

export interface NftChain {
  name: string;
  base?: NftBaseChain;
  comment?: string;
  /** Rule text, one statement list per rule, in order. */
  rules: string[];
}

export interface NftTableModel {
  family: 'inet';
  table: string;
  counters: NftCounter[];
  sets: NftSet[];
  chains: NftChain[];
}

export interface GroupInfo {
  /** Chain and map name; the chain's rule counter counts the group's drops. */
  name: string;
  direction: 'ingress' | 'egress';
  family: 4 | 6;
  /** Policies selecting every member, sorted. */
  policies: string[];
  /** Member pods (`namespace/name`), sorted. */
  members: string[];
  elements: number;
}

export interface PolicyObjects {
  policy: string;
  /** Chain whose rule counter counts the policy's allowed ingress (absent: it selects no local pod for ingress). */
  ingress?: string;
  egress?: string;
}

/** What the compiler knows about the names it chose, for explain and counters. */
export interface CompileInfo {
  node: string;
  groups: GroupInfo[];
  policies: PolicyObjects[];
  /** Chain whose rule counters count packets dropped by anti-spoofing. */
  spoofCounter: string;
}

export interface PolicyModel extends NftTableModel {
  info: CompileInfo;
}
