// The per-node agent: wiring, start-up recovery, the API. No direct kernel calls live here; the
// parts it wires (endpoint, routing, policy) own their own reconcile.
import { join } from 'node:path';
import type { CniRequest, CniResponse } from '../cni/api.js';
import { CNI_API_PATH } from '../cni/api.js';
import { netnsEntrySupport, podNetnsMethod } from '../dataplane/kernel/setns.js';
import { ensureSysctl } from '../dataplane/kernel/sysctl.js';
import { LocalIpam, staticBlocks } from '../ipam/local/index.js';
import { TwillError, describeError } from '../util/errors.js';
import { KubernetesStore, openStore } from '../datastore/index.js';
import { KubernetesNode } from './kubernetes-node.js';
import type { Store } from '../datastore/store.js';
import { ClusterMember } from './cluster/member.js';
import { RoutingController } from './routing-controller.js';
import { EncryptionController } from './encryption-controller.js';
import { PolicyController } from './policy-controller.js';
import { ServicesController } from './services/controller.js';
import { applyNat, compileNat } from '../dataplane/nat/index.js';
import { explainRequest, parseExplainRequest } from './flow-request.js';
import type { Logger } from '../util/log.js';
import { AttachmentStore } from './attachments.js';
import { etcdSecurityOf, type AgentConfig } from './config.js';
import { CniService } from './cni-service.js';
import { ApiServer, errorBody } from './server.js';
import { defaultPodMtu } from './mtu.js';
import { FlowRecorder, undoCtEvents } from '../flows/recorder.js';
import { AgentMetrics } from '../flows/metrics.js';
import { FilterError, validateFilter } from '../flows/filter.js';
import { observeReconciles } from './reconciler.js';
import { Problems } from './problems.js';
import { ClockWatch } from './clock-watch.js';
import { InflightJournal, describeInterrupted, type PreviousRun } from './inflight.js';
import { StateAudit } from './state-audit.js';
import { attachmentView, auditTombstones, processTombstones, recover, type RecoveryDeps, type StartupReport } from './recovery.js';

export const AGENT_VERSION = '0.1.0';

export class Agent {
  readonly ipam: LocalIpam;
  readonly attachments: AttachmentStore;
  readonly cni: CniService;
  /** Cluster mode only. */
  readonly cluster: ClusterMember | undefined;
  readonly routing: RoutingController | undefined;
  readonly encryption: EncryptionController | undefined;
  readonly policy: PolicyController | undefined;
  readonly services: ServicesController | undefined;
  readonly flows: FlowRecorder | undefined;
  private metrics: AgentMetrics | undefined;
  private unobserve: (() => void) | undefined;
  readonly problems: Problems;
  private readonly clock: ClockWatch;
  private store: Store | undefined;
  private readonly api: ApiServer;
  private readonly startedAt = Date.now();
  private standaloneMtu = 1500;
  startup: (StartupReport & { previous: PreviousRun }) | undefined;
  /** Names the ADD/DEL/GC/claim in flight, for the start after a kill (inflight.ts). */
  private readonly journal: InflightJournal;
  /** State files checked against memory while running (state-audit.ts). */
  readonly audit: StateAudit;

  private constructor(
    readonly cfg: AgentConfig,
    private readonly log: Logger,
    store: Store | undefined,
    /** Kubernetes mode: this node's Node object, as read at start. */
    private readonly kube?: { node: KubernetesNode; underlayAddress?: string | undefined; podCidrs?: string[] | undefined },
  ) {
    this.store = store;
    this.problems = new Problems(log);
    this.clock = new ClockWatch(this.problems);
    this.attachments = new AttachmentStore(join(cfg.stateDir, 'attachments'));
    this.journal = new InflightJournal(cfg.stateDir);
    if (store) {
      this.cluster = new ClusterMember({
        store,
        nodeName: cfg.nodeName,
        stateDir: cfg.stateDir,
        bootstrap: {
          pool: cfg.pool, blockPrefix: cfg.blockPrefix, backend: cfg.backend,
          vxlan: { vni: cfg.vxlanVni, port: cfg.vxlanPort, directRouting: cfg.directRouting },
          natOutgoing: cfg.natOutgoing, blockGraceSeconds: cfg.blockGraceSeconds,
          ...(cfg.encryption === 'wireguard'
            ? { encryption: 'wireguard' as const, wireguard: { port: cfg.wireguardPort, strict: cfg.wireguardStrict, nodeTraffic: cfg.wireguardNodeTraffic } }
            : {}),
        },
        leaseTtlSeconds: cfg.leaseTtlSeconds,
        underlayIface: cfg.underlayIface,
        underlayAddress: kube?.underlayAddress,
        fixedBlocks: kube?.podCidrs,
        agentVersion: AGENT_VERSION,
        log: log.child('cluster'),
        problems: this.problems,
        journal: this.journal,
        onChange: (what) => {
          this.routing?.reconciler.trigger(what);
          this.encryption?.reconciler.trigger(what);
        },
        podMTU: () => this.podMtu(),
        beforeRegister: () => this.encryption?.prepare() ?? Promise.resolve(),
        wireguard: () => this.encryption?.published(),
      });
      this.routing = new RoutingController(this.cluster, cfg.runDir, log.child('routing'), () => kube?.node.markNetworkUp());
      this.encryption = new EncryptionController(this.cluster, cfg.stateDir, cfg.runDir, log.child('encryption'));
      const flowLog = cfg.flowRecords ? { group: cfg.flowLogGroup, rate: cfg.flowLogRate, burst: cfg.flowLogRate } : undefined;
      this.policy = new PolicyController(store, cfg.nodeName, () => this.attachments.all(), cfg.runDir, log.child('policy'), join(cfg.stateDir, 'policy', 'accepted.json'), this.problems, cfg.stateDir, flowLog);
      const cluster = this.cluster;
      const facts = () => ((cluster.config as typeof cluster.config | undefined) && (cluster.underlay as typeof cluster.underlay | undefined) ? { name: cfg.nodeName, addresses: [cluster.underlay.ip], podCidrs: [cluster.config.pool] } : undefined);
      // In Kubernetes mode kube-proxy owns Services unless the operator turned kubeProxyReplacement
      // on; an etcd cluster has no kube-proxy, so Twill always serves them there.
      if (!kube || cfg.kubeProxyReplacement) this.services = new ServicesController(store, facts, () => this.attachments.all(), cfg.runDir, log.child('services'));
      if (cfg.flowRecords) {
        const policy = this.policy;
        this.flows = new FlowRecorder({ node: cfg.nodeName, ringSize: cfg.flowRingSize, group: cfg.flowLogGroup, runDir: cfg.runDir, context: () => policy.flowContext(), log: log.child('flows') });
      }
      this.ipam = new LocalIpam(join(cfg.stateDir, 'ipam'), this.cluster.blockSource());
    } else {
      this.ipam = new LocalIpam(join(cfg.stateDir, 'ipam'), staticBlocks([cfg.podCidr!]));
    }
    const cluster = this.cluster;
    this.audit = new StateAudit([
      () => this.attachments.audit(),
      async () => (await this.ipam.audit()).map((f) => ({ kind: 'address' as const, ...f })),
      async () => (cluster ? (await cluster.claims.audit()).map((f) => ({ kind: 'block-cache' as const, ...f })) : []),
      () => this.policy?.auditCache() ?? [],
      () => auditTombstones({ socket: cfg.socket, stateDir: cfg.stateDir }),
    ], this.problems);
    this.cni = new CniService({
      ipam: this.ipam,
      attachments: this.attachments,
      log: log.child('cni'),
      mtu: () => this.podMtu(),
      canGrow: () => this.cluster?.datastoreUp ?? false,
      problems: this.problems,
      journal: this.journal,
      onChange: (a, change) => {
        this.services?.reconciler.trigger(`local endpoint ${change}`);
        if (change === 'added' && a.pod && kube) this.publishPodIps(kube.node, a.pod.namespace, a.pod.name, a.ips);
        return change === 'added' ? this.policy?.endpointsChanged(a) : this.policy?.reconciler.trigger('local endpoint removed');
      },
    });
    this.api = new ApiServer(log.child('api'));
  }

  static async create(cfg: AgentConfig, log: Logger): Promise<Agent> {
    const store = cfg.datastore ? await openStore(cfg.datastore, { etcd: etcdSecurityOf(cfg), ...(cfg.kubeconfig ? { kubeconfig: cfg.kubeconfig } : {}), ...(cfg.apiServer ? { apiServer: cfg.apiServer } : {}), leaseNamespace: cfg.leaseNamespace }) : undefined;
    if (!(store instanceof KubernetesStore)) return new Agent(cfg, log, store);
    // Kubernetes mode: the Node object gives the underlay address and (ipam: kubernetes) the blocks.
    const node = new KubernetesNode(store, cfg.nodeName, log.child('kubernetes'));
    try {
      // ipam: kubernetes on a node kube-controller-manager has not given a podCIDR yet (it was
      // just added): wait for it, as the node stays NotReady meanwhile, rather than crash-loop.
      const n = cfg.ipam === 'kubernetes' ? await node.readWithPodCidrs() : await node.read();
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
    if (!this.routing) return this.standaloneMtu;
    // Pod traffic to other nodes may cross the backend or the tunnel: fit the smaller of the two.
    return Math.min(this.routing.podMTU(), this.encryption?.podMTU() ?? Infinity);
  }

  async start(): Promise<void> {
    const t0 = performance.now();
    this.policy?.prefetch();
    await ensureSysctl('net.ipv4.ip_forward', '1');
    if (!this.cluster) {
      this.standaloneMtu = await defaultPodMtu(0);
      // A standalone node masquerades its pods' traffic leaving the pod CIDR, as a cluster does.
      const nat = await applyNat(compileNat({ enabled: this.cfg.natOutgoing, pools: [this.cfg.podCidr!] }), { runDir: this.cfg.runDir });
      if (nat.changed) this.log.info('outbound NAT', { enabled: this.cfg.natOutgoing, pool: this.cfg.podCidr, script: nat.file });
    }
    const previous = this.journal.takeOver();
    await this.ipam.init();
    const bad = await this.attachments.init();
    await this.cluster?.start();
    this.startup = { ...(await recover(this.recoveryDeps(), bad)), previous };
    if (previous.unclean) this.reportUncleanRestart(previous, this.startup);
    if (this.startup.tombstonesPending) this.retryTombstones(1000);
    if (this.routing) {
      await this.routing.reconciler.runNow('agent start');
      this.routing.reconciler.start();
    }
    if (this.flows) await this.flows.start();
    else if (this.cluster) await undoCtEvents(this.log.child('flows'));
    if (this.encryption) {
      // A failure here (no WireGuard at all) is reported and retried; strict mode keeps pod
      // traffic to other nodes from leaving in clear meanwhile.
      await this.encryption.reconciler.runNow('agent start').catch((e: unknown) => this.log.error('encryption not ready', { error: describeError(e) }));
      this.encryption.start();
    }
    this.policy?.start();
    this.clock.start();
    this.audit.start(this.cfg.stateAuditSeconds);
    this.services?.start();
    if (this.cfg.metricsAddr) await this.startMetrics(this.cfg.metricsAddr);
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

  /**
   * The previous agent was killed or crashed: say so at warn, naming what it was doing and what
   * recovery repaired, and list it under PROBLEMS for ten minutes (it is an event, not a state).
   */
  private reportUncleanRestart(previous: PreviousRun, rep: StartupReport): void {
    const repaired = Object.entries(rep).filter(([, v]) => typeof v === 'number' && v > 0).map(([k, v]) => `${k}=${String(v)}`);
    this.problems.event('restart-after-kill', 'warn', `the previous agent did not stop cleanly (killed or crashed); it was running: ${describeInterrupted(previous.interrupted)}; start-up recovery repaired: ${repaired.join(' ') || 'nothing (records and kernel agreed)'}`, {
      previousPid: previous.pid, previousStartedAt: previous.startedAt, interrupted: previous.interrupted.map((i) => `${i.op} ${i.what}`), repaired: repaired.join(' ') || 'nothing',
    });
  }

  private async startMetrics(addr: string): Promise<void> {
    const m = new AgentMetrics(this.cfg.nodeName, {
      ipam: () => this.ipam.stats(),
      ...(this.policy ? { policyCounters: () => this.policy!.counters(), watchResyncs: () => this.policy!.watchResyncs() } : {}),
      ...(this.cluster ? { datastoreUp: () => this.cluster!.datastoreUp } : {}),
      ...(this.flows ? { flowLost: () => this.flows!.lost(), flowStored: () => this.flows!.ring.length, flowUnansweredLimited: () => this.flows!.unansweredLimited() } : {}),
    });
    this.flows?.onRecord((r) => m.flow(r));
    this.unobserve = observeReconciles((r) => m.reconcile(r.controller, r.seconds, r.ok, r.errorCode));
    const at = await m.listen(addr);
    this.metrics = m;
    this.log.info('metrics', { url: `http://${at.host.includes(':') ? `[${at.host}]` : at.host}:${at.port}/metrics` });
  }

  async stop(): Promise<void> {
    this.unobserve?.();
    await this.metrics?.close();
    this.flows?.stop();
    clearTimeout(this.tombstoneTimer);
    this.clock.stop();
    this.audit.stop();
    this.routing?.reconciler.stop();
    this.encryption?.stop();
    this.policy?.stop();
    await this.services?.stop();
    await this.cluster?.stop();
    await this.api.close();
    await this.store?.close();
    this.store = undefined;
    this.journal.close();
  }

  private recoveryDeps(): RecoveryDeps {
    return { stateDir: this.cfg.stateDir, socket: this.cfg.socket, ipam: this.ipam, attachments: this.attachments, cni: this.cni, log: this.log.child('recovery'), problems: this.problems };
  }

  private tombstoneTimer: NodeJS.Timeout | undefined;

  /** DELs that could not be finished at start-up are retried, with backoff, until they are. */
  private retryTombstones(delayMs: number): void {
    this.tombstoneTimer = setTimeout(() => {
      void processTombstones(this.recoveryDeps()).then(
        (r) => (r.pending ? this.retryTombstones(Math.min(delayMs * 2, 30_000)) : undefined),
        (e: unknown) => {
          this.problems.report('tombstones', 'error', 'cannot read the tombstone directory; retrying', { error: describeError(e) });
          this.retryTombstones(Math.min(delayMs * 2, 30_000));
        },
      );
    }, delayMs);
    this.tombstoneTimer.unref();
  }

  private routes(): void {
    this.api
      .route('POST', CNI_API_PATH, async ({ body }) => {
        const req = body as CniRequest;
        const t0 = performance.now();
        const done = (result: string): void => this.metrics?.cniOperation(String(req?.command ?? 'unknown'), result, (performance.now() - t0) / 1000);
        try {
          const result = await this.cni.handle(req);
          done('success');
          return { ok: true, result } satisfies CniResponse;
        } catch (e) {
          const error = errorBody(e);
          done(error.code);
          return { ok: false, error } satisfies CniResponse;
        }
      })
      .route('GET', '/healthz', () => Promise.resolve({ ok: true }))
      .route('GET', '/v1/status', async () => ({ ...this.status(), encryption: await this.encryption?.status() }))
      .route('POST', '/v1/encryption/rotate-key', async () => {
        if (!this.encryption) throw new TwillError('NOT_FOUND', 'this agent runs standalone: encryption needs a cluster (--datastore)');
        return { node: this.cfg.nodeName, ...(await this.encryption.rotateKey()) };
      })
      .route('GET', '/v1/policy/status', async () => ({ node: this.cfg.nodeName, ready: this.policy?.ready ?? false, policies: (await this.policy?.status()) ?? [] }))
      .route('POST', '/v1/policy/sync', async () => {
        if (!this.policy) throw new TwillError('NOT_FOUND', 'this agent runs standalone: NetworkPolicy needs a datastore (--datastore)');
        return { node: this.cfg.nodeName, ...(await this.policy.sync()) };
      })
      .route('GET', '/v1/services/status', () => Promise.resolve({ node: this.cfg.nodeName, ...(this.services?.status() ?? { ready: false }) }))
      .route('POST', '/v1/services/sync', async () => {
        if (!this.services) throw new TwillError('NOT_FOUND', this.servicesOff());
        return { node: this.cfg.nodeName, ...(await this.services.sync()) };
      })
      .route('GET', '/v1/flows', async ({ query }) => {
        if (!this.flows) throw new TwillError('NOT_FOUND', 'this agent records no flows (standalone, or started with --no-flow-records)');
        const num = (k: string): number | undefined => {
          const v = query.get(k);
          if (v === null) return undefined;
          const n = Number(v);
          if (!Number.isInteger(n) || n < 0) throw new TwillError('VALIDATION', `query parameter ${k} must be a non-negative integer, got "${v}"`);
          return n;
        };
        let filter;
        try {
          filter = validateFilter(query.get('filter') ? (JSON.parse(query.get('filter')!) as unknown) : undefined);
        } catch (e) {
          throw new TwillError('VALIDATION', `query parameter filter: ${e instanceof FilterError || e instanceof SyntaxError ? e.message : String(e)}`);
        }
        const after = num('after');
        const last = num('last');
        const waitMs = num('wait');
        return this.flows.query({ ...(after !== undefined ? { after } : {}), ...(last !== undefined ? { last } : {}), ...(waitMs !== undefined ? { waitMs } : {}), filter });
      })
      .route('GET', '/v1/flows/status', () => {
        if (!this.flows) throw new TwillError('NOT_FOUND', 'this agent records no flows (standalone, or started with --no-flow-records)');
        return this.flows.status();
      })
      .route('GET', '/v1/policy/pods', () => Promise.resolve({ node: this.cfg.nodeName, pods: this.policy?.podPolicies() ?? [] }))
      .route('GET', '/v1/policy/counters', async () => ({ node: this.cfg.nodeName, counters: (await this.policy?.counters()) ?? null }))
      .route('POST', '/v1/policy/explain', ({ body }) => {
        const policy = this.policy;
        return Promise.resolve(explainRequest(parseExplainRequest(body), { policy: policy && ((f) => policy.explain(f)), services: this.services, servicesOff: () => this.servicesOff() }));
      });
  }

  /** Why this agent serves no Services. */
  private servicesOff(): string {
    if (this.kube) return 'this agent leaves Services to kube-proxy: set kubeProxyReplacement: true (Helm value, config file, or --kube-proxy-replacement) to serve them without it';
    return 'this agent runs standalone: Services need a datastore (--datastore)';
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
      memoryMB: Object.fromEntries(Object.entries(process.memoryUsage()).map(([k, v]) => [k, +(v / 1048576).toFixed(1)])),
      routing: this.routing?.status(),
      policy: this.policy?.summary(),
      services: this.services?.status(),
      flows: this.flows?.stats(),
      ipam: this.ipam.stats(),
      attachments: this.attachments.all().map(attachmentView),
      problems: this.problems.list(),
      startup: this.startup,
      stateAudit: { everySeconds: this.cfg.stateAuditSeconds, ...this.audit.status() },
    };
  }
}
