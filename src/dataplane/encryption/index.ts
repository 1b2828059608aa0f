// Transparent encryption of pod traffic between nodes: WireGuard beside the routing backends.
// compileEncryption (pure) → applyEncryption (kernel/ and kernel/wireguard/).
export type * from './types.js';
export { compileEncryption, WIREGUARD_OVERHEAD_V4, WIREGUARD_OVERHEAD_V6 } from './compile.js';
export { planWgDevice, describeWgChange } from './plan.js';
export { applyEncryption, removeEncryption, type EncryptionApplyResult } from './apply.js';
export { loadOrCreateKey, writeNewKey, publicKeyOf, isWireguardKey, type KeyPair } from './keys.js';
export { holdPeers, type HoldInput, type HoldResult } from './hold.js';
