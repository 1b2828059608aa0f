// Services without kube-proxy: Services + EndpointSlices + node facts → one nftables table
// (`twill-services`), compiled incrementally and applied by delta. See README.md.
export { ServicesCompiler, compileServices, type CompiledServices, type CompilerInput, type ChangedKeys, type ServicesDelta } from './compiler.js';
export { resolveServices, DEFAULT_AFFINITY_SECONDS, type EndpointTarget, type HealthCheck, type ResolvedServices, type ServicePortPlan, type ServicesSnapshot, type Skipped } from './resolve.js';
export { ServicesDataplane, type ServicesApplyResult, type ServicesDataplaneOptions } from './apply.js';
export { staleFlows } from './stale.js';
