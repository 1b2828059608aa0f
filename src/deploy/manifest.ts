// Every object `kubectl apply -f deploy/twill.yaml` creates, in apply order. The CRDs and the
// agent's RBAC come from the datastore code that uses them (src/datastore/kubernetes/), so the
// install grants exactly what the code asks for. Settings are passed through untouched (values.ts).
import { twillCrds } from '../datastore/kubernetes/crds.js';
import { agentRbac } from '../datastore/kubernetes/rbac.js';
import { DEFAULT_RUN_DIR, DEFAULT_STATE_DIR } from '../dataplane/kernel/names.js';
import { DAEMONSET_NAME, SERVICE_ACCOUNT, type DeployValues } from './values.js';

export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } & Record<string, unknown> } & Record<string, unknown>;

const LABELS = { 'app.kubernetes.io/name': 'twill', 'app.kubernetes.io/part-of': 'twill' };
const CONFIG_FILE = '/etc/twill/config.yaml';
const IMAGE_TWILL = '/usr/local/bin/twill';
/** Where the image keeps the CNI shim the init container copies onto the host. */
export const IMAGE_CNI_SHIM = '/opt/twill/dist/twill-cni';

/**
 * The agent's runtime settings, as the DaemonSet sets them (and the scale bench runs the agent
 * with them: bench/kubernetes-scale). A young generation capped at 4 MB keeps short-lived
 * list-parsing garbage out of RSS (measured: ~50 MB less with 30,000 pods). Two glibc malloc
 * arenas instead of one per thread (V8's compiler and GC threads, libuv's pool): with 30,000 pods
 * the per-thread arenas held 16 MB, two held 7 MB (smaps; RSS peak 176.7 → 167.4 MB).
 */
export const AGENT_RUNTIME_ENV: Readonly<Record<string, string>> = { NODE_OPTIONS: '--max-semi-space-size=4', MALLOC_ARENA_MAX: '2' };

/** The agent's settings file (src/agent/config.ts keys): cluster bootstrap and node-side paths. */
function agentConfig(v: DeployValues): string {
  return [
    'datastore: kubernetes',
    `leaseNamespace: ${v.namespace}`,
    `ipam: ${v.ipam}`,
    `pool: ${v.pool}`,
    `blockPrefix: ${v.blockPrefix}`,
    `backend: ${v.backend}`,
    `vxlanVni: ${v.vxlanVni}`,
    `vxlanPort: ${v.vxlanPort}`,
    `natOutgoing: ${v.natOutgoing}`,
    `cniConfDir: ${v.cniConfDir}`,
    `healthPort: ${v.healthPort}`,
    `logLevel: ${v.logLevel}`,
    `kubeProxyReplacement: ${v.kubeProxyReplacement}`,
    `apiServer: "${v.apiServer}"`,
    '',
  ].join('\n');
}

function hostPath(name: string, path: string, type: string): Record<string, unknown> {
  return { name, hostPath: { path, type } };
}

function daemonSet(v: DeployValues): K8sObject {
  const probe = (path: string, extra: Record<string, number>) => ({
    httpGet: { host: '127.0.0.1', path, port: v.healthPort },
    ...extra,
  });
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: DAEMONSET_NAME, namespace: v.namespace, labels: LABELS },
    spec: {
      selector: { matchLabels: { 'app.kubernetes.io/name': 'twill' } },
      // One node at a time: the old agent leaves the kernel state in place on SIGTERM, the new one
      // adopts it, so established pod flows never notice.
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels: LABELS },
        spec: {
          hostNetwork: true,
          dnsPolicy: 'ClusterFirstWithHostNet',
          priorityClassName: 'system-node-critical',
          serviceAccountName: SERVICE_ACCOUNT,
          // Every node needs pod networking, whatever it is tainted with (NotReady included: the
          // node is NotReady *because* Twill is not running yet).
          tolerations: [{ operator: 'Exists' }],
          terminationGracePeriodSeconds: 30,
          initContainers: [
            {
              name: 'install-cni',
              image: v.image,
              imagePullPolicy: v.imagePullPolicy,
              command: [IMAGE_TWILL, 'install-cni', '--from', IMAGE_CNI_SHIM, '--to', v.cniBinDir],
              volumeMounts: [{ name: 'cni-bin', mountPath: v.cniBinDir }],
            },
          ],
          containers: [
            {
              name: 'agent',
              image: v.image,
              imagePullPolicy: v.imagePullPolicy,
              command: [IMAGE_TWILL, 'agent'],
              args: [`--config=${CONFIG_FILE}`, '--node-name=$(NODE_NAME)', `--owner-daemonset=$(POD_NAMESPACE)/${DAEMONSET_NAME}`],
              env: [
                { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                ...Object.entries(AGENT_RUNTIME_ENV).map(([name, value]) => ({ name, value })),
              ],
              // Links, routes, nftables and pod network namespaces: the agent is the node's network.
              securityContext: { privileged: true },
              readinessProbe: probe('/readyz', { periodSeconds: 5, failureThreshold: 2 }),
              livenessProbe: probe('/healthz', { initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 6 }),
              resources: { requests: { cpu: '50m', memory: '64Mi' } },
              volumeMounts: [
                { name: 'config', mountPath: '/etc/twill', readOnly: true },
                { name: 'run-twill', mountPath: DEFAULT_RUN_DIR },
                { name: 'state', mountPath: DEFAULT_STATE_DIR },
                { name: 'cni-conf', mountPath: v.cniConfDir },
                // The runtime creates pod namespaces after the agent starts: they must show up here.
                { name: 'netns', mountPath: '/run/netns', mountPropagation: 'HostToContainer' },
              ],
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: 'twill-config' } },
            hostPath('run-twill', DEFAULT_RUN_DIR, 'DirectoryOrCreate'),
            hostPath('state', DEFAULT_STATE_DIR, 'DirectoryOrCreate'),
            hostPath('cni-bin', v.cniBinDir, 'DirectoryOrCreate'),
            hostPath('cni-conf', v.cniConfDir, 'DirectoryOrCreate'),
            hostPath('netns', '/run/netns', 'DirectoryOrCreate'),
          ],
        },
      },
    },
  };
}

/**
 * Lets the agent watch its own DaemonSet, and nothing else in apps: on SIGTERM it must know
 * whether Twill is being uninstalled (the DaemonSet is gone or going: remove everything) or
 * updated (keep the datapath). Only that one object, by name.
 */
function ownerWatchRbac(v: DeployValues): K8sObject[] {
  const name = 'twill-agent-owner';
  const rbac = 'rbac.authorization.k8s.io/v1';
  return [
    {
      apiVersion: rbac, kind: 'Role', metadata: { name, namespace: v.namespace, labels: LABELS },
      rules: [{ apiGroups: ['apps'], resources: ['daemonsets'], resourceNames: [DAEMONSET_NAME], verbs: ['get', 'list', 'watch'] }],
    },
    {
      apiVersion: rbac, kind: 'RoleBinding', metadata: { name, namespace: v.namespace, labels: LABELS },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name: SERVICE_ACCOUNT, namespace: v.namespace }],
    },
  ];
}

/** The install, in the order kubectl must apply it (and, reversed, the order nothing depends on). */
export function renderObjects(v: DeployValues): K8sObject[] {
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: v.namespace, labels: LABELS } },
    ...(twillCrds() as unknown as K8sObject[]),
    ...(agentRbac({ namespace: v.namespace, serviceAccount: SERVICE_ACCOUNT }) as K8sObject[]),
    ...ownerWatchRbac(v),
    {
      apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'twill-config', namespace: v.namespace, labels: LABELS },
      data: { 'config.yaml': agentConfig(v) },
    },
    daemonSet(v),
  ];
}
