// Flow observability: records from the kernel (conntrack events, NFLOG), the ring, filters,
// text formats and Prometheus metrics. See docs/observability.md.
export { FlowRecorder, DEFAULT_RING_SIZE, type FlowStats, type FlowStatus, type LostCounts } from './recorder.js';
export { FlowRing } from './ring.js';
export { flowFromConntrack, flowFromNflog, parsePrefix, type FlowContext, type FlowEndpoint, type FlowPolicy, type FlowRecord } from './record.js';
export { FilterError, matchesFilter, parseEndSelector, validateFilter, type EndSelector, type FlowFilter } from './filter.js';
export { decisionOf, formatCompact, formatJson, formatTable, isUnanswered, shortTime, verdictCell, type OutputFormat } from './format.js';
export { AgentMetrics, type MetricsSources } from './metrics.js';
