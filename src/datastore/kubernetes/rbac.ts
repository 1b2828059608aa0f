// Exactly what the agent asks of the Kubernetes API, next to the code that asks it, so deploy/
// renders least-privilege RBAC from the same source. If you add an API call to the kubernetes
// store or the agent, add its verb here (the kernel test runs the store under these rules).
import { TWILL_GROUP } from './crds.js';

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'update', 'patch', 'delete'];

/** Cluster-wide rules (a ClusterRole bound to the agent's ServiceAccount). */
export const AGENT_CLUSTER_RULES: readonly PolicyRule[] = [
  // Workload and policy inputs: read-only.
  { apiGroups: [''], resources: ['pods', 'namespaces', 'nodes'], verbs: READ },
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: READ },
  // Services without kube-proxy (kubeProxyReplacement): read-only, the API's controllers own them.
  { apiGroups: [''], resources: ['services'], verbs: READ },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: READ },
  // The pod's addresses are published at CNI ADD (annotation twill.dev/pod-ips), before kubelet
  // writes status.podIPs, so other nodes learn them early.
  { apiGroups: [''], resources: ['pods'], verbs: ['patch'] },
  // NetworkUnavailable=False once this node's routes exist; podCIDRs (ipam: kubernetes) are read
  // from nodes (above).
  { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
  // Twill's own kinds. deletecollection: objects attached to a dead node's lease are deleted by
  // label selector in one call (no garbage collector needed).
  { apiGroups: [TWILL_GROUP], resources: ['twillnodes', 'ipamblocks', 'clusterconfigs'], verbs: [...READ, ...WRITE, 'deletecollection'] },
];

/** Rules inside the lease namespace (a Role there): node liveness Leases. */
export const AGENT_LEASE_RULES: readonly PolicyRule[] = [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: [...READ, ...WRITE] }];

export const DEFAULT_LEASE_NAMESPACE = 'twill-system';

export interface AgentRbacOptions {
  /** Namespace of the ServiceAccount and the Leases (default twill-system). */
  namespace?: string;
  serviceAccount?: string;
  /** Name of the ClusterRole/Role and bindings (default twill-agent). */
  name?: string;
}

type K8sObject = { apiVersion: string; kind: string; metadata: Record<string, unknown> } & Record<string, unknown>;

/** ServiceAccount, ClusterRole + binding, Role + binding for the agent. */
export function agentRbac(opts: AgentRbacOptions = {}): K8sObject[] {
  const namespace = opts.namespace ?? DEFAULT_LEASE_NAMESPACE;
  const sa = opts.serviceAccount ?? 'twill-agent';
  const name = opts.name ?? 'twill-agent';
  const labels = { 'app.kubernetes.io/part-of': 'twill' };
  const subjects = [{ kind: 'ServiceAccount', name: sa, namespace }];
  const rbac = 'rbac.authorization.k8s.io/v1';
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace, labels } },
    { apiVersion: rbac, kind: 'ClusterRole', metadata: { name, labels }, rules: clone(AGENT_CLUSTER_RULES) },
    { apiVersion: rbac, kind: 'ClusterRoleBinding', metadata: { name, labels }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name }, subjects },
    { apiVersion: rbac, kind: 'Role', metadata: { name, namespace, labels }, rules: clone(AGENT_LEASE_RULES) },
    { apiVersion: rbac, kind: 'RoleBinding', metadata: { name, namespace, labels }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name }, subjects },
  ];
}

function clone(rules: readonly PolicyRule[]): PolicyRule[] {
  return rules.map((r) => ({ apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] }));
}
