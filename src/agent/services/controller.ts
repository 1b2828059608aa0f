// Services for this node: watch Services and EndpointSlices; on any change (or a local pod added
// or removed, which can change which endpoints are local) recompile the Services whose objects
// changed (the informers name them) and apply the delta in one transaction (a netlink batch). UDP
// endpoints that went away lose their conntrack entries; eTP=Local LoadBalancers get their
// healthCheckNodePort.
//
// Invalid Services and slices (etcd has no API server in front) are skipped and reported; the
// rest of the table is applied. The table is only written once both caches hold a complete list,
// so an agent that starts while the datastore is down leaves the previous table in force.
import type { Store } from '../../datastore/store.js';
import { ServicesCompiler, ServicesDataplane, resolveServices, type ResolvedServices, type Skipped } from '../../services/index.js';
import { TwillError, describeError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import type { Attachment } from '../attachments.js';
import { HealthCheckServer } from './health-check-server.js';
import { Informer } from '../informer.js';
import { Reconciler, type ReconcileOutcome } from '../reconciler.js';

export interface NodeFacts {
  name: string;
  addresses: string[];
  podCidrs: string[];
}

export class ServicesController {
  readonly reconciler: Reconciler;
  private readonly services: Informer<'Service'>;
  private readonly slices: Informer<'EndpointSlice'>;
  private readonly dataplane: ServicesDataplane;
  private readonly health: HealthCheckServer;
  private compiler: ServicesCompiler;
  private readonly newCompiler: () => ServicesCompiler;
  private skipped: Skipped[] = [];
  private stopped = false;
  private servicePorts: number | undefined;
  /** The last reconcile that reached the kernel: how long its compile and its apply took. */
  private lastPass: { compileMs: number; applyMs: number; mode: string; via?: string } | undefined;
  /** Keys changed since the last compile; undefined: a list or resync happened, compare everything. */
  private changed: { services: Set<string>; slices: Set<string> } | undefined;

  constructor(
    store: Store,
    private readonly node: () => NodeFacts | undefined,
    private readonly attachments: () => Attachment[],
    runDir: string,
    private readonly log: Logger,
  ) {
    const trigger = (kind: 'services' | 'slices') => (what: string, key?: string) => {
      if (key === undefined) this.changed = undefined;
      else this.changed?.[kind].add(key);
      this.reconciler.trigger(what);
    };
    // Listed from the apiserver's watch cache, as kube-proxy's informers list: no agent write is in them.
    this.services = new Informer(store, 'Service', trigger('services'), { listFromCache: true });
    this.slices = new Informer(store, 'EndpointSlice', trigger('slices'), { listFromCache: true });
    // From a kube-apiserver the objects were validated on write (kube-proxy checks nothing either);
    // from etcd nothing stands in front of them, and the compiler validates each.
    this.newCompiler = () => new ServicesCompiler({ validated: store.apiValidated === true });
    this.compiler = this.newCompiler();
    this.dataplane = new ServicesDataplane({ runDir });
    this.health = new HealthCheckServer(log);
    this.reconciler = new Reconciler('services', () => this.reconcile(), log, { debounceMs: 15, periodMs: 60_000 });
  }

  start(): void {
    this.reconciler.start();
    void this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.reconciler.stop();
    for (const i of [this.services, this.slices]) i.stop();
    this.dataplane.close();
    await this.health.close();
  }

  /**
   * Lists Services and EndpointSlices at the same time: the datastore serves one while this
   * process decodes the other (the table waits for both anyway).
   */
  private async connect(): Promise<void> {
    await Promise.all([this.services, this.slices].map((inf) => this.startInformer(inf)));
  }

  private async startInformer(inf: Informer<'Service'> | Informer<'EndpointSlice'>): Promise<void> {
    let delay = 250;
    while (!inf.synced && !this.stopped) {
      try {
        await inf.start();
      } catch (e) {
        this.log.warn('cannot read Services from the datastore; retrying', { error: describeError(e), retryInMs: delay });
        await new Promise((r) => setTimeout(r, delay).unref());
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  get ready(): boolean {
    return this.services.synced && this.slices.synced;
  }

  /** Resolves once the table reflects what the datastore held when it was called (tests, tools). */
  async sync(timeoutMs = 5000): Promise<{ runs: number; lastChanges?: number }> {
    if (!this.ready) throw new TwillError('TRY_AGAIN', 'Services are not read from the datastore yet; retry shortly');
    const deadline = Date.now() + timeoutMs;
    await Promise.all([this.services, this.slices].map((i) => i.caughtUp(deadline)));
    const done = this.reconciler.settled();
    this.reconciler.trigger('sync requested');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([done.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), Math.max(0, deadline - Date.now()))))]);
    clearTimeout(timer);
    if (timedOut) throw new TwillError('TIMEOUT', `no services reconcile completed within ${timeoutMs} ms`);
    const st = this.reconciler.status();
    if (st.lastError) throw new TwillError('INTERNAL', `the services reconcile failed: ${st.lastError}`);
    return { runs: st.runs, lastChanges: st.lastChanges };
  }

  private async reconcile(): Promise<ReconcileOutcome> {
    const node = this.node();
    if (!this.ready || !node) return { changes: 0, detail: { skipped: 'Services or node facts not known yet' } };
    const changed = this.changed;
    this.changed = { services: new Set(), slices: new Set() };
    const t0 = performance.now();
    let compiled;
    try {
      compiled = this.compiler.update(
        { node: { name: node.name, addresses: node.addresses }, podCidrs: node.podCidrs, localPodIPs: this.attachments().flatMap((a) => a.ips), services: this.services.items, slices: this.slices.items },
        changed,
      );
    } catch (e) {
      // The compiler's own state is suspect: start over with a fresh one and a full replacement.
      this.compiler = this.newCompiler();
      this.changed = undefined;
      throw e;
    }
    const was = new Set(this.skipped.map((s) => `${s.object}|${s.reason}`));
    for (const s of compiled.resolved.skipped) if (!was.has(`${s.object}|${s.reason}`)) this.log.error('not proxied: invalid object', { object: s.object, reason: s.reason });
    this.skipped = compiled.resolved.skipped;
    this.servicePorts = compiled.resolved.portCount;
    const t1 = performance.now();
    let r;
    try {
      r = await this.dataplane.apply(compiled);
    } catch (e) {
      // The kernel may hold any earlier table: the next run compiles everything and replaces it.
      this.changed = undefined;
      throw e;
    }
    this.lastPass = { compileMs: Math.round(t1 - t0), applyMs: Math.round(performance.now() - t1), mode: r.mode, ...(r.via ? { via: r.via } : {}) };
    for (const e of r.conntrackErrors) this.log.warn('cannot remove conntrack entries of a removed UDP endpoint', { error: e });
    await this.health.update(compiled.resolved.healthChecks);
    return { changes: r.changes, detail: { mode: r.mode, via: r.via, servicePorts: compiled.resolved.portCount, skipped: this.skipped.length || undefined, conntrackDeleted: r.conntrackDeleted || undefined, bytes: r.bytes || undefined } };
  }

  /** The plans the table is made of, resolved from the current caches (policy explain); undefined until ready. */
  resolveNow(): { node: NodeFacts; resolved: ResolvedServices } | undefined {
    const node = this.node();
    if (!this.ready || !node) return undefined;
    const localPodIPs = this.attachments().flatMap((a) => a.ips);
    const resolved = resolveServices({ node: { name: node.name, addresses: node.addresses }, podCidrs: node.podCidrs, localPodIPs, services: this.services.list(), endpointSlices: this.slices.list() });
    return { node, resolved };
  }

  status(): Record<string, unknown> {
    return {
      ...this.reconciler.status(),
      ready: this.ready,
      services: this.services.items.size,
      endpointSlices: this.slices.items.size,
      servicePorts: this.servicePorts,
      lastPass: this.lastPass,
      skipped: this.skipped,
      healthChecks: this.health.status(),
    };
  }
}
