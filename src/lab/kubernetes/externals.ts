// Where the pinned Kubernetes, containerd, runc and crictl binaries live (built by
// scripts/externals/build.sh from their Go modules), and a clear error when one is missing.
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { TwillError } from '../../util/errors.js';

export const K8S_VERSION = 'v1.37.2';
export const CONTAINERD_VERSION = 'v2.4.2';
export const RUNC_VERSION = 'v1.5.3';
export const CRICTL_VERSION = 'v1.37.0';

const PARTS = {
  'kube-apiserver': ['kubernetes', `kubernetes-${K8S_VERSION}`],
  'kube-controller-manager': ['kubernetes', `kubernetes-${K8S_VERSION}`],
  'kube-scheduler': ['kubernetes', `kubernetes-${K8S_VERSION}`],
  kubelet: ['kubernetes', `kubernetes-${K8S_VERSION}`],
  'kube-proxy': ['kubernetes', `kubernetes-${K8S_VERSION}`],
  kubectl: ['kubernetes', `kubernetes-${K8S_VERSION}`],
  agnhost: ['agnhost', `kubernetes-${K8S_VERSION}`],
  pause: ['pause', `kubernetes-${K8S_VERSION}`],
  containerd: ['containerd', `containerd-${CONTAINERD_VERSION}`],
  'containerd-shim-runc-v2': ['containerd', `containerd-${CONTAINERD_VERSION}`],
  ctr: ['containerd', `containerd-${CONTAINERD_VERSION}`],
  runc: ['runc', `runc-${RUNC_VERSION}`],
  crictl: ['crictl', `cri-tools-${CRICTL_VERSION}`],
} as const;

export type ExternalBinary = keyof typeof PARTS;

export const externalsDir = (): string => process.env.TWILL_EXTERNALS ?? '/var/cache/twill/externals';

/** The path of a pinned binary; throws an actionable error when it has not been built. */
export function external(name: ExternalBinary): string {
  const [part, folder] = PARTS[name];
  const file = join(externalsDir(), folder, name);
  try {
    accessSync(file, constants.X_OK);
  } catch {
    throw new TwillError('NOT_FOUND', `${file} is missing: run \`scripts/externals/build.sh ${part}\` (it builds the pinned ${part} into ${externalsDir()}, once)`);
  }
  return file;
}

/** The folder holding containerd's shim, runc and friends, for a PATH. */
export const externalDir = (name: ExternalBinary): string => join(externalsDir(), PARTS[name][1]);
