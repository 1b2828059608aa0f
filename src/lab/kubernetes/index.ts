// A real Kubernetes cluster in the lab: control plane, PKI, kubeconfigs, the pinned binaries.
export { startControlPlane, stopControlPlane, firstServiceIp, DEFAULT_SERVICE_CIDR, type ControlPlane, type ControlPlaneOptions } from './control-plane.js';
export { external, externalsDir, K8S_VERSION, CONTAINERD_VERSION, RUNC_VERSION, CRICTL_VERSION, type ExternalBinary } from './externals.js';
export { ensurePki, issueCert, type Pki, type CertFiles, type CertRequest } from './pki.js';
export { kubeconfigText, embeddedKubeconfigText, writeKubeconfig, type KubeconfigSpec } from './kubeconfig.js';
