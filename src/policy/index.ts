// Kubernetes NetworkPolicy for Twill: validation, the reference evaluator, the nftables compiler
// with incremental diffs, and the dataplane that applies them. See README.md for the semantics
// Twill chose where the API leaves a choice, and for the ruleset layout.
export { validateNetworkPolicy, validateLabelSelector, type FieldError } from './validate.js';
export { selectorMatches, NAMESPACE_NAME_LABEL } from '../model/labels.js';
export {
  buildSnapshot,
  effectivePolicyTypes,
  policyKey,
  type BuildSnapshotInput,
  type LocalEndpoint,
  type PolicySnapshot,
  type RejectedPolicy,
  type SnapshotNamespace,
  type SnapshotPod,
  type SnapshotPort,
} from './snapshot.js';
export {
  evaluate,
  evaluateIndexed,
  formatRuleRef,
  describeEnd,
  type Flow,
  type FlowEnd,
  type FlowProtocol,
  type ResolvedEnd,
  type RuleRef,
  type SideVerdict,
  type Verdict,
} from './evaluate.js';
export { compilePolicy, policyObjectName, PolicyCompiler, type CompileOptions } from './compile.js';
export type { CompileInfo, GroupInfo, NftChain, NftCounter, NftElement, NftSet, NftTableModel, PolicyModel, PolicyObjects } from './model.js';
export { renderTable, renderFullReplace } from './render.js';
export { diffModels, renderOp, type DiffOp, type DiffResult } from './diff.js';
export { explain, policyCounters, type Count, type CounterReport, type PolicyCounters } from './explain.js';
export { PolicyDataplane, type ApplyResult, type NftRunner, type PolicyDataplaneOptions } from './apply.js';
