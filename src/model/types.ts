// Resources are Kubernetes-shaped everywhere (apiVersion/kind/metadata/spec/status), so policy and
// routing code never knows whether they came from the Kubernetes API, etcd or memory.

export type Labels = Record<string, string>;

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Labels;
  annotations?: Record<string, string>;
  uid?: string;
  /** Opaque datastore revision of this object (etcd mod revision, Kubernetes resourceVersion). */
  resourceVersion?: string;
  creationTimestamp?: string;
}

export interface TypeMeta {
  apiVersion: string;
  kind: string;
}

// ---------- core/v1 ----------

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: Protocol;
}

export interface Container {
  name: string;
  image?: string;
  ports?: ContainerPort[];
}

export interface Pod extends TypeMeta {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: ObjectMeta & { namespace: string };
  spec: {
    nodeName?: string;
    hostNetwork?: boolean;
    containers: Container[];
  };
  status?: {
    phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
    podIP?: string;
    podIPs?: { ip: string }[];
    hostIP?: string;
    message?: string;
  };
}

/** The part of a core/v1 Node the agent reads (underlay address, podCIDRs) and writes (conditions). */
export interface Node extends TypeMeta {
  apiVersion: 'v1';
  kind: 'Node';
  metadata: ObjectMeta;
  spec: {
    /** Set by kube-controller-manager --allocate-node-cidrs (used by `ipam: kubernetes`). */
    podCIDR?: string;
    podCIDRs?: string[];
  };
  status?: {
    addresses?: { type: string; address: string }[];
    conditions?: NodeCondition[];
  };
}

export interface NodeCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastHeartbeatTime?: string;
}

export interface Namespace extends TypeMeta {
  apiVersion: 'v1';
  kind: 'Namespace';
  metadata: ObjectMeta;
}

// ---------- core/v1 Service, discovery.k8s.io/v1 EndpointSlice ----------

export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
export type TrafficPolicy = 'Cluster' | 'Local';

/** Services carrying this label belong to another proxy; Twill leaves them alone. */
export const SERVICE_PROXY_NAME_LABEL = 'service.kubernetes.io/service-proxy-name';
/** Services carrying this label are not proxied at all, as if headless (kube-proxy's rule). */
export const SERVICE_HEADLESS_LABEL = 'service.kubernetes.io/headless';
/** The label tying an EndpointSlice to its Service (same namespace). */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export interface ServicePort {
  /** Required when the Service has more than one port. */
  name?: string;
  protocol?: Protocol;
  port: number;
  /** A number, or a container port name resolved per EndpointSlice port. Default: `port`. */
  targetPort?: number | string;
  nodePort?: number;
  appProtocol?: string;
}

export interface Service extends TypeMeta {
  apiVersion: 'v1';
  kind: 'Service';
  metadata: ObjectMeta & { namespace: string };
  spec: {
    type?: ServiceType;
    /** "None" makes a headless Service (no proxying). */
    clusterIP?: string;
    clusterIPs?: string[];
    ipFamilies?: ('IPv4' | 'IPv6')[];
    ports?: ServicePort[];
    selector?: Labels;
    externalIPs?: string[];
    sessionAffinity?: 'None' | 'ClientIP';
    sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
    externalTrafficPolicy?: TrafficPolicy;
    internalTrafficPolicy?: TrafficPolicy;
    healthCheckNodePort?: number;
    publishNotReadyAddresses?: boolean;
    externalName?: string;
  };
  status?: {
    loadBalancer?: { ingress?: { ip?: string; hostname?: string; ipMode?: 'VIP' | 'Proxy' }[] };
  };
}

export interface EndpointConditions {
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export interface Endpoint {
  addresses: string[];
  conditions?: EndpointConditions;
  hostname?: string;
  nodeName?: string;
  zone?: string;
  targetRef?: { kind?: string; namespace?: string; name?: string; uid?: string };
}

export interface EndpointPort {
  name?: string;
  port?: number;
  protocol?: Protocol;
  appProtocol?: string;
}

export interface EndpointSlice extends TypeMeta {
  apiVersion: 'discovery.k8s.io/v1';
  kind: 'EndpointSlice';
  metadata: ObjectMeta & { namespace: string };
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints: Endpoint[];
  ports?: EndpointPort[];
}

// ---------- networking.k8s.io/v1 NetworkPolicy ----------

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface IPBlock {
  cidr: string;
  except?: string[];
}

export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: IPBlock;
}

export interface NetworkPolicyPort {
  protocol?: Protocol;
  /** A number or a named port (resolved against the destination pod's containerPorts). */
  port?: number | string;
  endPort?: number;
}

export interface NetworkPolicyIngressRule {
  from?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export interface NetworkPolicyEgressRule {
  to?: NetworkPolicyPeer[];
  ports?: NetworkPolicyPort[];
}

export type PolicyType = 'Ingress' | 'Egress';

export interface NetworkPolicy extends TypeMeta {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  metadata: ObjectMeta & { namespace: string };
  spec: {
    podSelector: LabelSelector;
    policyTypes?: PolicyType[];
    ingress?: NetworkPolicyIngressRule[];
    egress?: NetworkPolicyEgressRule[];
  };
  status?: TwillPolicyStatus;
}

/** Twill records whether it accepted a policy, and why not. */
export interface TwillPolicyStatus {
  accepted?: boolean;
  reason?: string;
  observedRevision?: string;
}

// ---------- twill.dev/v1alpha1: Twill's own resources ----------

export const TWILL_API = 'twill.dev/v1alpha1';

export type BackendName = 'vxlan' | 'host-gw';

export interface TwillNode extends TypeMeta {
  apiVersion: typeof TWILL_API;
  kind: 'TwillNode';
  metadata: ObjectMeta;
  spec: {
    /** Underlay (node) address other nodes reach this node at. */
    underlayIP: string;
    /** CIDR of the underlay interface, to decide who is on the same L2 segment. */
    underlayCIDR: string;
    backend: BackendName;
    /** MAC of this node's VXLAN device (vxlan backend). */
    vtepMAC?: string;
    /** Address of this node's VXLAN device (first address of its first block). */
    vtepIP?: string;
    /** IPAM blocks this node holds (CIDRs). */
    blocks: string[];
    /** Pod MTU this node computed, for diagnostics. */
    podMTU?: number;
    agentVersion?: string;
    /** Present when this node runs WireGuard: its public key (base64) and UDP port. */
    wireguard?: { publicKey: string; port: number };
  };
}

export interface IPAMBlock extends TypeMeta {
  apiVersion: typeof TWILL_API;
  kind: 'IPAMBlock';
  metadata: ObjectMeta;
  spec: {
    cidr: string;
    /** The node holding this block. */
    node: string;
    claimedAt: string;
  };
}

export interface ClusterConfig extends TypeMeta {
  apiVersion: typeof TWILL_API;
  kind: 'ClusterConfig';
  metadata: ObjectMeta;
  spec: {
    pool: string;
    blockPrefix: number;
    backend: BackendName;
    vxlan: { vni: number; port: number; directRouting: boolean };
    /** Masquerade traffic from pods to destinations outside the pool. */
    natOutgoing: boolean;
    /** Seconds a dead node's blocks stay reserved before returning to the pool. */
    blockGraceSeconds: number;
    /** Transparent encryption of pod traffic between nodes (absent: none). */
    encryption?: EncryptionMode;
    /** WireGuard settings, used when `encryption` is `wireguard`. */
    wireguard?: WireguardSettings;
  };
}

export type EncryptionMode = 'none' | 'wireguard';

export interface WireguardSettings {
  /** UDP port every node's WireGuard device listens on (default 51871). */
  port: number;
  /** Drop pod traffic to another node rather than send it in clear (default true). */
  strict: boolean;
  /** Also encrypt node ↔ remote-pod traffic (peers' node addresses become allowed IPs). */
  nodeTraffic: boolean;
}

export type AnyResource = Pod | Namespace | Node | NetworkPolicy | TwillNode | IPAMBlock | ClusterConfig | Service | EndpointSlice;

export type Kind = AnyResource['kind'];

export type ResourceOf<K extends Kind> = Extract<AnyResource, { kind: K }>;

/** The datastore key of an object: "name" or "namespace/name". */
export function objectKey(o: { metadata: { name: string; namespace?: string | undefined } }): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

export const NAMESPACED: Record<Kind, boolean> = {
  Pod: true,
  NetworkPolicy: true,
  Namespace: false,
  Node: false,
  TwillNode: false,
  IPAMBlock: false,
  ClusterConfig: false,
  Service: true,
  EndpointSlice: true,
};
