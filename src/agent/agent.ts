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
import { openStore } from '../datastore/index.js';
import type { Store } from '../datastore/store.js';
import { ClusterMember } from './cluster.js';
import { RoutingController } from './routing-controller.js';
import { PolicyController } from './policy-controller.js';
import { explain } from '../policy/index.js';
import { applyNat, compileNat } from '../dataplane/nat/index.js';
import { parseFlow } from './flow-request.js';
import type { Logger } from '../util/log.js';
import { AttachmentStore } from './attachments.js';
import { etcdSecurityOf, type AgentConfig } from './config.js';
import { CniService } from './cni-service.js';
import { ApiServer, errorBody } from './server.js';
import { defaultPodMtu } from './mtu.js';
import { FlowRecorder } from '../flows/recorder.js';
import { AgentMetrics } from '../flows/metrics.js';
import { FilterError, validateFilter } from '../flows/filter.js';
import { observeReconciles } from './reconciler.js';

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
  readonly flows: FlowRecorder | undefined;
  private metrics: AgentMetrics | undefined;
  private unobserve: (() => void) | undefined;
  private store: Store | undefined;
  private readonly api: ApiServer;
  private readonly startedAt = Date.now();
  private standaloneMtu = 1500;
  startup: StartupReport | undefined;

  private constructor(
    readonly cfg: AgentConfig,
    private readonly log: Logger,
    store: Store | undefined,
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
        agentVersion: AGENT_VERSION,
        log: log.child('cluster'),
        onChange: (what) => this.routing?.reconciler.trigger(what),
        podMTU: () => this.podMtu(),
      });
      this.routing = new RoutingController(this.cluster, cfg.runDir, log.child('routing'));
      const flowLog = cfg.flowRecords ? { group: cfg.flowLogGroup, rate: cfg.flowLogRate, burst: cfg.flowLogRate } : undefined;
      this.policy = new PolicyController(store, cfg.nodeName, () => this.attachments.all(), cfg.runDir, log.child('policy'), join(cfg.stateDir, 'policy', 'accepted.json'), flowLog);
      if (cfg.flowRecords) {
        const policy = this.policy;
        this.flows = new FlowRecorder({ node: cfg.nodeName, ringSize: cfg.flowRingSize, group: cfg.flowLogGroup, context: () => policy.flowContext(), log: log.child('flows') });
      }
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
      onChange: (_a, change) => (change === 'added' ? this.policy?.endpointsChanged() : this.policy?.reconciler.trigger('local endpoint removed')),
    });
    this.api = new ApiServer(log.child('api'));
  }

  static async create(cfg: AgentConfig, log: Logger): Promise<Agent> {
    const store = cfg.datastore ? await openStore(cfg.datastore, { etcd: etcdSecurityOf(cfg) }) : undefined;
    return new Agent(cfg, log, store);
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
    await this.flows?.start();
    this.policy?.start();
    if (this.cfg.metricsAddr) await this.startMetrics(this.cfg.metricsAddr);
    this.routes();
    await this.api.listen(this.cfg.socket);
    const netnsEntry = netnsEntrySupport();
    if (!netnsEntry.ok) {
      this.log.warn('pod namespaces are configured by running `ip` inside them (~4 ms more per ADD)', { reason: netnsEntry.why });
    }
    this.log.info('agent ready', {
      node: this.cfg.nodeName, mode: this.cluster ? 'cluster' : 'standalone', podCidr: this.cfg.podCidr, blocks: this.cluster?.claims.current().join(','),
      mtu: this.podMtu(), podNetns: podNetnsMethod(), socket: this.cfg.socket, attachments: this.attachments.all().length, ms: Math.round(performance.now() - t0), ...this.startup,
    });
  }

  private async startMetrics(addr: string): Promise<void> {
    const m = new AgentMetrics(this.cfg.nodeName, {
      ipam: () => this.ipam.stats(),
      ...(this.policy ? { policyCounters: () => this.policy!.counters(), watchResyncs: () => this.policy!.watchResyncs() } : {}),
      ...(this.cluster ? { datastoreUp: () => this.cluster!.datastoreUp } : {}),
      ...(this.flows ? { flowLost: () => this.flows!.lost(), flowStored: () => this.flows!.ring.length } : {}),
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
      .route('GET', '/v1/status', () => Promise.resolve(this.status()))
      .route('GET', '/v1/policy/status', async () => ({ node: this.cfg.nodeName, ready: this.policy?.ready ?? false, policies: (await this.policy?.status()) ?? [] }))
      .route('POST', '/v1/policy/sync', async () => {
        if (!this.policy) throw new TwillError('NOT_FOUND', 'this agent runs standalone: NetworkPolicy needs a datastore (--datastore)');
        return { node: this.cfg.nodeName, ...(await this.policy.sync()) };
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
        return Promise.resolve(this.flows.stats());
      })
      .route('GET', '/v1/policy/pods', () => Promise.resolve({ node: this.cfg.nodeName, pods: this.policy?.podPolicies() ?? [] }))
      .route('GET', '/v1/policy/counters', async () => ({ node: this.cfg.nodeName, counters: (await this.policy?.counters()) ?? null }))
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
      routing: this.routing?.status(),
      policy: this.policy?.summary(),
      flows: this.flows?.stats(),
      ipam: this.ipam.stats(),
      attachments: this.attachments.all().map((a) => ({ id: ownerKey(a), ips: a.ips, iface: a.hostIface, pod: a.pod ? `${a.pod.namespace}/${a.pod.name}` : undefined })),
      startup: this.startup,
    };
  }
}
