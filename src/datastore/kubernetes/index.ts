// The kubernetes datastore's public face.
export { KubernetesStore, type KubernetesStoreOptions } from './store.js';
export { inClusterAccess, kubeconfigAccess, SERVICE_ACCOUNT_DIR, type ClusterAccess } from './access.js';
export { KubeClient, ApiError } from './client.js';
export { twillCrds, twillCrdNames, TWILL_GROUP, TWILL_VERSION, type CustomResourceDefinition } from './crds.js';
export { agentRbac, AGENT_CLUSTER_RULES, AGENT_LEASE_RULES, DEFAULT_LEASE_NAMESPACE, type PolicyRule } from './rbac.js';
export { LEASE_LABEL, POD_IPS_ANNOTATION } from './resources.js';
