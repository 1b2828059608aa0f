// The settings an operator may change when installing Twill. deploy/twill.yaml is rendered with
// DEFAULT_VALUES; the Helm chart's values.yaml is the same object, and its templates are the same
// render with each setting replaced by a Helm reference (see helm.ts). That is why manifest.ts may
// only pass settings through, never branch on them: a branch could not become a template.

export interface DeployValues {
  /** Namespace of the agent's objects and its node Leases. */
  namespace: string;
  /** Twill's container image (scripts/images/build.sh twill names it twill.local/twill:VERSION). */
  image: string;
  imagePullPolicy: string;
  /**
   * Where pod addresses come from: `blocks` (Twill's pool, cut into blocks nodes claim) or
   * `kubernetes` (each Node's spec.podCIDRs, from kube-controller-manager --allocate-node-cidrs;
   * `pool` must then be its --cluster-cidr).
   */
  ipam: string;
  /** Cluster pod pool and IPAM block size, used when the cluster has no ClusterConfig yet. */
  pool: string;
  blockPrefix: number;
  /** Routing backend: vxlan | host-gw. */
  backend: string;
  vxlanVni: number;
  vxlanPort: number;
  natOutgoing: boolean;
  /** Host directories the runtime reads CNI binaries and configuration from. */
  cniBinDir: string;
  cniConfDir: string;
  /** Loopback port of the agent's /healthz and /readyz (the pod shares the node's network). */
  healthPort: number;
  logLevel: string;
  /**
   * Twill serves Services, so the cluster runs no kube-proxy (as Cilium's kubeProxyReplacement).
   * Off by default. With it on, set apiServer too: the agent cannot reach kube-apiserver through
   * the `kubernetes` Service before it serves Services itself.
   */
  kubeProxyReplacement: boolean;
  /** kube-apiserver as https://HOST:PORT for the agent (default "": the `kubernetes` Service). */
  apiServer: string;
}

export const DEFAULT_VALUES: DeployValues = {
  namespace: 'twill-system',
  image: 'twill.local/twill:0.1.0',
  imagePullPolicy: 'IfNotPresent',
  ipam: 'blocks',
  pool: '10.244.0.0/16',
  blockPrefix: 26,
  backend: 'vxlan',
  vxlanVni: 4096,
  vxlanPort: 4789,
  natOutgoing: true,
  cniBinDir: '/opt/cni/bin',
  cniConfDir: '/etc/cni/net.d',
  healthPort: 9099,
  logLevel: 'info',
  kubeProxyReplacement: false,
  apiServer: '',
};

/** The DaemonSet's name: the agent watches it to tell an uninstall from a rolling update. */
export const DAEMONSET_NAME = 'twill';
export const SERVICE_ACCOUNT = 'twill-agent';
