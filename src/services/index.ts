// Services without kube-proxy: Services + EndpointSlices + node facts → one nftables table
// (`twill-services`), applied by diff. See README.md for the semantics and the table's shape.
export { compileServices, type CompiledServices } from './compile.js';
export { resolveServices, DEFAULT_AFFINITY_SECONDS, type EndpointTarget, type HealthCheck, type ResolvedServices, type ServicePortPlan, type ServicesSnapshot, type Skipped } from './resolve.js';
export { ServicesDataplane, staleFlows, type ServicesApplyResult, type ServicesDataplaneOptions } from './apply.js';
