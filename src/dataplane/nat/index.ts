// Outbound NAT: pods reaching outside the pool are masqueraded; pod-to-pod traffic never is.
export { compileNat, type CompiledNat, type NatSnapshot } from './compile.js';
export { applyNat, type ApplyNatOptions } from './apply.js';
