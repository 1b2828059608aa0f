import type { BlockSource } from './allocator.js';
export { LocalIpam, ownerKey, type BlockSource, type Owner, type IpamStats } from './allocator.js';
export type { AddressRecord } from './records.js';

/** A block source for a node with one fixed pod CIDR (`twill agent --pod-cidr`). */
export function staticBlocks(cidrs: string[]): BlockSource {
  return { current: () => cidrs };
}
