// The per-node agent: wiring, start-up recovery, the API. No direct kernel calls live here; the
// parts it wires (endpoint, routing, policy) own their own reconcile.
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { CniRequest, CniResponse } from '../cni/api.js';
import { CNI_API_PATH } from '../cni/api.js';
import { HOST_VETH_PREFIX, tombstoneDir } from '../dataplane/kernel/names.js';
import { netlink } from '../dataplane/kernel/netlink.js';
import { netnsExists } from '../dataplane/kernel/netns.js';
import { netnsEntrySupport, podNetnsMethod } from '../dataplane/kernel/setns.js';
import { ensureSysctl } from '../dataplane/kernel/sysctl.js';
import { reconcileEndpointRoutes } from '../dataplane/endpoint/reconcile.js';
import { LocalIpam, ownerKey, staticBlocks } from '../ipam/local/index.js';
import { TwillError, describeError } from '../util/errors.js';
import { KubernetesStore, openStore } from '../datastore/index.js';
import { KubernetesNode } from './kubernetes-node.js';
import type { Store } from '../datastore/store.js';
import { ClusterMember } from './cluster.js';
import { RoutingController } from './routing-controller.js';
import { PolicyController } from './policy-controller.js';
import { explain } from '../policy/index.js';
import { applyNat, compileNat } from '../dataplane/nat/index.js';
import { parseFlow } from './flow-request.js';
import type { Logger } from '../util/log.js';
import { AttachmentStore } from './attachments.js';
import type { AgentConfig } from './config.js';
import { CniService } from './cni-service.js';
import { ApiServer, errorBody } from './server.js';
import { defaultPodMtu } from './mtu.js';

export const AGENT_VERSION = '0.1.0';

export interface StartupReport {
  tombstones: number;
  staleAttachments: number;
  freedAddresses: number;
  strayLinks: number;
  routeChanges: number;
}

export class Agent {
  readonly ipam: LocalIpam;
  readonly attachments: AttachmentStore;
  readonly cni: CniService;
  /** Cluster mode only. */
  readonly cluster: ClusterMember | undefined;
  readonly routing: RoutingController | undefined;
  readonly policy: PolicyController | undefined;
  private store: Store | undefined;
  private readonly api: ApiServer;
  private readonly startedAt = Date.now();
  private standaloneMtu = 1500;
  startup: StartupReport | undefined;

  private constructor(
    readonly cfg: AgentConfig,
    private readonly log: Logger,
    store: Store | undefined,
    /** Kubernetes mode: this node's Node object, as read at start. */
    private readonly kube?: { node: KubernetesNode; underlayAddress?: string | undefined; podCidrs?: string[] | undefined },
  ) {
    this.store = store;
    this.attachments = new AttachmentStore(join(cfg.stateDir, 'attachments'));
    if (store) {
      this.cluster = new ClusterMember({
        store,
        nodeName: cfg.nodeName,
        stateDir: cfg.stateDir,
        bootstrap: {
          pool: cfg.pool, blockPrefix: cfg.blockPrefix, backend: cfg.backend,
          vxlan: { vni: cfg.vxlanVni, port: cfg.vxlanPort, directRouting: cfg.directRouting },
          natOutgoing: cfg.natOutgoing, blockGraceSeconds: cfg.blockGraceSeconds,
        },
        leaseTtlSeconds: cfg.leaseTtlSeconds,
        underlayIface: cfg.underlayIface,
        underlayAddress: kube?.underlayAddress,
        fixedBlocks: kube?.podCidrs,
        agentVersion: AGENT_VERSION,
        log: log.child('cluster'),
        onChange: (what) => this.routing?.reconciler.trigger(what),
        podMTU: () => this.podMtu(),
      });
      this.routing = new RoutingController(this.cluster, cfg.runDir, log.child('routing'), () => kube?.node.markNetworkUp());
      this.policy = new PolicyController(store, cfg.nodeName, () => this.attachments.all(), cfg.runDir, log.child('policy'), join(cfg.stateDir, 'policy', 'accepted.json'));
      this.ipam = new LocalIpam(join(cfg.stateDir, 'ipam'), this.cluster.blockSource());
    } else {
      this.ipam = new LocalIpam(join(cfg.stateDir, 'ipam'), staticBlocks([cfg.podCidr!]));
    }
    this.cni = new CniService({
      ipam: this.ipam,
      attachments: this.attachments,
      log: log.child('cni'),
      mtu: () => this.podMtu(),
      canGrow: () => this.cluster?.datastoreUp ?? false,
      onChange: (a, change) => {
        if (change === 'added' && a.pod && kube) this.publishPodIps(kube.node, a.pod.namespace, a.pod.name, a.ips);
        return change === 'added' ? this.policy?.endpointsChanged() : this.policy?.reconciler.trigger('local endpoint removed');
      },
    });
    this.api = new ApiServer(log.child('api'));
  }

  static async create(cfg: AgentConfig, log: Logger): Promise<Agent> {
    const store = cfg.datastore ? await openStore(cfg.datastore, { ...(cfg.kubeconfig ? { kubeconfig: cfg.kubeconfig } : {}), leaseNamespace: cfg.leaseNamespace }) : undefined;
    if (!(store instanceof KubernetesStore)) return new Agent(cfg, log, store);
    // Kubernetes mode: the Node object gives the underlay address and (ipam: kubernetes) the blocks.
    const node = new KubernetesNode(store, cfg.nodeName, log.child('kubernetes'));
    try {
      const n = await node.read();
      const internal = KubernetesNode.internalIp(n);
      return new Agent(cfg, log, store, {
        node,
        underlayAddress: cfg.underlayIface ? undefined : internal,
        podCidrs: cfg.ipam === 'kubernetes' ? KubernetesNode.podCidrs(n) : undefined,
      });
    } catch (e) {
      await store.close();
      throw e;
    }
  }

  /** Other nodes learn a new pod's address now rather than when kubelet reports it. */
  private publishPodIps(node: KubernetesNode, namespace: string, name: string, ips: string[]): void {
    const t0 = performance.now();
    node.publishPodIps(namespace, name, ips).then(
      () => this.log.debug('published pod addresses', { pod: `${namespace}/${name}`, ips: ips.join(','), ms: +(performance.now() - t0).toFixed(1) }),
      (e: unknown) => this.log.warn('cannot publish pod addresses; other nodes learn them when kubelet reports status', { pod: `${namespace}/${name}`, error: describeError(e) }),
    );
  }

  private podMtu(): number {
    if (this.cfg.mtu) return this.cfg.mtu;
    return this.routing ? this.routing.podMTU() : this.standaloneMtu;
  }

  async start(): Promise<void> {
    const t0 = performance.now();
    await ensureSysctl('net.ipv4.ip_forward', '1');
    if (!this.cluster) {
      this.standaloneMtu = await defaultPodMtu(0);
      // A standalone node masquerades its pods' traffic leaving the pod CIDR, as a cluster does.
      const nat = await applyNat(compileNat({ enabled: this.cfg.natOutgoing, pools: [this.cfg.podCidr!] }), { runDir: this.cfg.runDir });
      if (nat.changed) this.log.info('outbound NAT', { enabled: this.cfg.natOutgoing, pool: this.cfg.podCidr, script: nat.file });
    }
    await this.ipam.init();
    await this.attachments.init();
    await this.cluster?.start();
    this.startup = await this.recover();
    if (this.routing) {
      await this.routing.reconciler.runNow('agent start');
      this.routing.reconciler.start();
    }
    this.policy?.start();
    this.routes();
    await this.api.listen(this.cfg.socket);
    const netnsEntry = netnsEntrySupport();
    if (!netnsEntry.ok) {
      this.log.warn('pod namespaces are configured by running `ip` inside them (~4 ms more per ADD)', { reason: netnsEntry.why });
    }
    this.log.info('agent ready', {
      node: this.cfg.nodeName, mode: this.cluster ? 'cluster' : 'standalone', datastore: this.store?.name, ipam: this.cluster ? this.cfg.ipam : undefined, podCidr: this.cfg.podCidr, blocks: this.cluster?.claims.current().join(','),
      mtu: this.podMtu(), podNetns: podNetnsMethod(), socket: this.cfg.socket, attachments: this.attachments.all().length, ms: Math.round(performance.now() - t0), ...this.startup,
    });
  }

  async stop(): Promise<void> {
    this.routing?.reconciler.stop();
    this.policy?.stop();
    await this.cluster?.stop();
    await this.api.close();
    await this.store?.close();
    this.store = undefined;
  }

  /**
   * Start-up recovery, in order: DELs the shim recorded while we were down; attachments whose pod
   * is gone; addresses nobody owns (an ADD interrupted by a crash); host veths nobody owns; the
   * /32 routes of live attachments (diffed, so a restart with nothing to do changes nothing).
   */
  private async recover(): Promise<StartupReport> {
    const rep: StartupReport = { tombstones: 0, staleAttachments: 0, freedAddresses: 0, strayLinks: 0, routeChanges: 0 };
    const tdir = tombstoneDir(this.cfg.socket);
    for (const name of await readdir(tdir).catch(() => [] as string[])) {
      if (!name.endsWith('.json')) continue;
      const file = join(tdir, name);
      try {
        const t = JSON.parse(await readFile(file, 'utf8')) as { containerId: string; ifname: string; netns?: string };
        await this.cni.remove({ containerId: t.containerId, ifname: t.ifname }, t.netns);
        rep.tombstones++;
      } catch (e) {
        this.log.warn('cannot process tombstone; removing it', { file, error: describeError(e) });
      }
      await rm(file, { force: true });
    }
    const nl = netlink();
    for (const a of this.attachments.all()) {
      if (!netnsExists(a.netns) && !(await nl.getLink(a.hostIface))) {
        this.log.info('pod gone while the agent was down; releasing', { attachment: ownerKey(a), ip: a.ips.join(',') });
        await this.cni.remove(a);
        rep.staleAttachments++;
      }
    }
    const keep = new Set(this.attachments.all().map((a) => ownerKey(a)));
    rep.freedAddresses = (await this.ipam.gc(keep)).length;
    const owned = new Set(this.attachments.all().map((a) => a.hostIface));
    for (const l of await nl.listLinks()) {
      if (l.name.startsWith(HOST_VETH_PREFIX) && l.kind === 'veth' && !owned.has(l.name)) {
        await nl.deleteLink(l.name);
        rep.strayLinks++;
      }
    }
    rep.routeChanges = await reconcileEndpointRoutes(this.attachments.all());
    return rep;
  }

  private routes(): void {
    this.api
      .route('POST', CNI_API_PATH, async ({ body }) => {
        const req = body as CniRequest;
        try {
          const result = await this.cni.handle(req);
          return { ok: true, result } satisfies CniResponse;
        } catch (e) {
          return { ok: false, error: errorBody(e) } satisfies CniResponse;
        }
      })
      .route('GET', '/healthz', () => Promise.resolve({ ok: true }))
      .route('GET', '/v1/status', () => Promise.resolve(this.status()))
      .route('GET', '/v1/policy/status', async () => ({ node: this.cfg.nodeName, ready: this.policy?.ready ?? false, policies: (await this.policy?.status()) ?? [] }))
      .route('POST', '/v1/policy/sync', async () => {
        if (!this.policy) throw new TwillError('NOT_FOUND', 'this agent runs standalone: NetworkPolicy needs a datastore (--datastore)');
        return { node: this.cfg.nodeName, ...(await this.policy.sync()) };
      })
      .route('POST', '/v1/policy/explain', ({ body }) => {
        if (!this.policy) throw new TwillError('NOT_FOUND', 'this agent runs standalone: NetworkPolicy needs a datastore (--datastore)');
        const verdict = this.policy.explain(parseFlow(body));
        return Promise.resolve({ verdict, text: explain(verdict) });
      });
  }

  status(): Record<string, unknown> {
    return {
      node: this.cfg.nodeName,
      version: AGENT_VERSION,
      mode: this.cluster ? 'cluster' : 'standalone',
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      mtu: this.podMtu(),
      podNetns: podNetnsMethod(),
      cluster: this.cluster?.status(),
      ...(this.store instanceof KubernetesStore ? { apiTraffic: { ...this.store.client.traffic } } : {}),
      routing: this.routing?.status(),
      policy: this.policy?.summary(),
      ipam: this.ipam.stats(),
      attachments: this.attachments.all().map((a) => ({ id: ownerKey(a), ips: a.ips, iface: a.hostIface, pod: a.pod ? `${a.pod.namespace}/${a.pod.name}` : undefined })),
      startup: this.startup,
    };
  }
}
