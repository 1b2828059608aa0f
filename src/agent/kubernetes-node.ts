// What the agent does only when its datastore is the Kubernetes API: read its own Node (the
// InternalIP as underlay address, spec.podCIDRs for `ipam: kubernetes`), report the network up
// (NetworkUnavailable=False, the condition kubelet and the scheduler look at), and publish a new
// pod's addresses at CNI ADD (kubelet writes status.podIPs only later; other nodes' policy needs
// the address as soon as the pod can send).
import type { KubernetesStore } from '../datastore/index.js';
import { POD_IPS_ANNOTATION } from '../datastore/kubernetes/index.js';
import type { Node } from '../model/types.js';
import { TwillError, describeError } from '../util/errors.js';
import type { Logger } from '../util/log.js';

export const NETWORK_UP_REASON = 'TwillIsUp';

export class KubernetesNode {
  private reportedUp = false;
  private reporting: Promise<void> | undefined;

  constructor(
    private readonly store: KubernetesStore,
    readonly nodeName: string,
    private readonly log: Logger,
  ) {}

  async read(): Promise<Node> {
    const node = await this.store.get('Node', this.nodeName);
    if (!node) throw new TwillError('CONFIG_INVALID', `Node ${this.nodeName} does not exist in the Kubernetes API: --node-name must be this node's Kubernetes name (the DaemonSet passes spec.nodeName)`);
    return node;
  }

  /**
   * The Node once it has spec.podCIDRs: rereads every second, and says every 30 s what it waits
   * for and what to check (kube-controller-manager --allocate-node-cidrs --cluster-cidr).
   */
  async readWithPodCidrs(): Promise<Node> {
    for (let waited = 0; ; waited++) {
      const node = await this.read();
      try {
        KubernetesNode.podCidrs(node);
        return node;
      } catch (e) {
        if (waited % 30 === 0) this.log.warn('waiting for this Node\'s spec.podCIDRs (ipam: kubernetes)', { node: this.nodeName, error: describeError(e) });
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  static internalIp(node: Node): string | undefined {
    return node.status?.addresses?.find((a) => a.type === 'InternalIP' && !a.address.includes(':'))?.address;
  }

  /** spec.podCIDRs (or the older single podCIDR); an error that says what to do when unset. */
  static podCidrs(node: Node): string[] {
    const cidrs = node.spec.podCIDRs?.length ? node.spec.podCIDRs : node.spec.podCIDR ? [node.spec.podCIDR] : [];
    if (cidrs.length === 0) {
      throw new TwillError('CONFIG_INVALID', `Node ${node.metadata.name} has no spec.podCIDRs: run kube-controller-manager with --allocate-node-cidrs --cluster-cidr=POOL, or use --ipam blocks`);
    }
    return cidrs;
  }

  /** Sets NetworkUnavailable=False once (retried on the next call after a failure). */
  markNetworkUp(): void {
    if (this.reportedUp || this.reporting) return;
    this.reporting = this.patchCondition()
      .then(() => {
        this.reportedUp = true;
        this.log.info('reported the node network up (NetworkUnavailable=False)', { node: this.nodeName });
      })
      .catch((e: unknown) => this.log.warn('cannot report the node network up yet; will retry', { error: describeError(e) }))
      .finally(() => (this.reporting = undefined));
  }

  private async patchCondition(): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const condition = { type: 'NetworkUnavailable', status: 'False', reason: NETWORK_UP_REASON, message: 'Twill programmed the routes of this node', lastTransitionTime: now, lastHeartbeatTime: now };
    // A strategic merge patch merges conditions by type, leaving kubelet's own untouched.
    await this.store.client.request(`/api/v1/nodes/${encodeURIComponent(this.nodeName)}/status`, {
      method: 'PATCH',
      contentType: 'application/strategic-merge-patch+json',
      body: { status: { conditions: [condition] } },
      what: `patching nodes/${this.nodeName}/status`,
    });
  }

  /** Writes the twill.dev/pod-ips annotation (the store shows it as status.podIPs until kubelet reports). */
  async publishPodIps(namespace: string, name: string, ips: string[]): Promise<void> {
    await this.store.client.request(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`, {
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      body: { metadata: { annotations: { [POD_IPS_ANNOTATION]: ips.join(',') } } },
      timeoutMs: 5000,
      what: `annotating pods ${namespace}/${name}`,
    });
  }
}
