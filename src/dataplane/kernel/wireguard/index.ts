// WireGuard devices, kernel or userspace, behind one handle (types.ts). select() decides which
// implementation runs: the kernel module when its generic netlink family answers, otherwise
// wireguard-go; a clear error when neither exists. TWILL_WIREGUARD=userspace forces wireguard-go.
// In a pod (Kubernetes mode: KUBERNETES_SERVICE_HOST is set) only kernel WireGuard is used unless
// wireguard-go is forced: a wireguard-go started by the agent lives in the agent's container and
// dies with it on every rollout (docs/encryption.md, "Kubernetes").
import { TwillError } from '../../../util/errors.js';
import { kernelWireguardFamily, KernelWgDevice } from './genl.js';
import { findWireguardGo } from './userspace.js';

export * from './types.js';
export { encodeUapiSet, parseUapiGet } from './uapi.js';
export { UapiDevice } from './uapi-client.js';
export { KernelWgDevice, kernelWireguardFamily } from './genl.js';
export { ensureUserspace, stopUserspace, findWireguardGo, userspacePaths, runningPid } from './userspace.js';
export { ensureRule, removeRule, type RuleSpec } from './rule.js';

export type WgSelection =
  | { implementation: 'kernel'; device: KernelWgDevice; why: string }
  | { implementation: 'userspace'; binary: string; why: string; /** A limit the operator must know about (wireguard-go in a pod). */ warning?: string };

export async function selectWireguard(ifname: string, env: NodeJS.ProcessEnv = process.env): Promise<WgSelection> {
  const forced = env['TWILL_WIREGUARD'];
  if (forced && forced !== 'kernel' && forced !== 'userspace') {
    throw new TwillError('CONFIG_INVALID', `TWILL_WIREGUARD="${forced}" must be kernel or userspace`);
  }
  let kernelWhy = 'TWILL_WIREGUARD=userspace';
  if (forced !== 'userspace') {
    const k = await kernelWireguardFamily();
    if (k.id !== undefined) return { implementation: 'kernel', device: new KernelWgDevice(k.sock, k.id, ifname), why: 'the kernel has the wireguard module' };
    kernelWhy = k.why;
    if (forced === 'kernel') throw new TwillError('KERNEL', `TWILL_WIREGUARD=kernel, but ${kernelWhy}`);
  }
  if (env['KUBERNETES_SERVICE_HOST'] && forced !== 'userspace') {
    throw new TwillError(
      'KERNEL',
      `encryption: wireguard in Kubernetes needs kernel WireGuard today, and ${kernelWhy}. The agent will not start wireguard-go inside its own container: `
        + 'it would die with the container on every agent rollout or restart, and strict mode would drop pod traffic to other nodes until the new agent started another one. '
        + 'Load the wireguard module on the nodes (modprobe wireguard; Linux ≥ 5.6 has it), or set TWILL_WIREGUARD=userspace on the DaemonSet to accept that gap; see docs/encryption.md, "Kubernetes"',
    );
  }
  const binary = findWireguardGo();
  if (binary && env['KUBERNETES_SERVICE_HOST']) {
    const warning = `TWILL_WIREGUARD=userspace in a pod: ${binary} runs in the agent's container and dies with it on a rollout (pod traffic to other nodes is dropped until the new agent starts it)`;
    return { implementation: 'userspace', binary, why: `${kernelWhy}; ${warning}`, warning };
  }
  if (binary) return { implementation: 'userspace', binary, why: `${kernelWhy}; using ${binary}` };
  throw new TwillError('KERNEL', `encryption: wireguard needs WireGuard, and this node has neither: ${kernelWhy}, and no wireguard-go binary (build it with scripts/externals/build.sh wireguard-go, or set TWILL_WIREGUARD_GO)`);
}
