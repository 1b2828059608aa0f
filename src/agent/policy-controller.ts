// NetworkPolicy for this node: watch Pods, Namespaces and NetworkPolicies; on any change (or a
// local pod added or removed) build a snapshot, compile the `twill-policy` table and apply the
// difference in one nft transaction.
//
// A policy that fails validation is rejected with its reasons (status API, agent log); if an
// earlier version of it was accepted, that version stays in force, so a bad edit never opens or
// closes anything; the accepted versions are kept on disk, so this holds across restarts. A pod
// on this node whose Pod object is not known yet (datastore unreachable) still passes
// anti-spoofing with its own address, and is selected only by selectors that match an empty
// label set.
import type { Store } from '../datastore/store.js';
import { objectKey, type NetworkPolicy, type Pod } from '../model/types.js';
import {
  PolicyDataplane,
  PolicyCompiler,
  buildSnapshot,
  evaluate,
  effectivePolicyTypes,
  selectorMatches,
  validateNetworkPolicy,
  type Flow,
  type LocalEndpoint,
  type PolicySnapshot,
  type Verdict,
  type CompileInfo,
  type CounterReport,
} from '../policy/index.js';
import type { FlowLogOptions } from '../policy/compile.js';
import { indexSnapshot, type SnapshotIndex } from '../policy/snapshot.js';
import type { FlowContext } from '../flows/record.js';
import { TwillError, describeError } from '../util/errors.js';
import { NFT_TABLE_POLICY } from '../dataplane/kernel/names.js';
import type { Logger } from '../util/log.js';
import type { Attachment } from './attachments.js';
import { AcceptedPolicies } from './accepted-policies.js';
import type { AuditFinding } from './state-audit.js';
import type { Problems } from './problems.js';
import { Informer } from './informer.js';
import { Reconciler, type ReconcileOutcome } from './reconciler.js';

export interface PolicyStatusEntry {
  namespace: string;
  name: string;
  accepted: boolean;
  reason?: string;
  /** For a rejected update: the earlier accepted version still enforced. */
  previousVersionInForce?: boolean;
  counters?: { allowedPackets: number; droppedPackets: number };
}

export class PolicyController {
  readonly reconciler: Reconciler;
  private readonly pods: Informer<'Pod'>;
  private readonly namespaces: Informer<'Namespace'>;
  private readonly policies: Informer<'NetworkPolicy'>;
  private readonly dataplane: PolicyDataplane;
  private readonly compiler: PolicyCompiler;
  private info: CompileInfo | undefined;
  private indexed: { snapshot: PolicySnapshot; index: SnapshotIndex } | undefined;
  private readonly accepted: AcceptedPolicies;
  private readonly rejected = new Map<string, { reason: string; previousVersionInForce: boolean }>();
  private snapshot: PolicySnapshot | undefined;
  private stopped = false;
  private started = false;
  private connecting: Promise<void> | undefined;
  /** When the first reconcile from complete inputs finished (start-up time, for status and benches). */
  private firstFullAt: string | undefined;

  constructor(
    store: Store,
    private readonly nodeName: string,
    private readonly attachments: () => Attachment[],
    runDir: string,
    private readonly log: Logger,
    /** Where the last accepted version of each policy is kept (none: memory only). */
    acceptedFile?: string,
    problems?: Problems,
    stateDir?: string,
    /** NFLOG rules for flow records (none: no log rules). */
    flowLog?: FlowLogOptions,
  ) {
    this.compiler = new PolicyCompiler(flowLog ? { log: flowLog } : {});
    this.accepted = new AcceptedPolicies(acceptedFile, log, problems, stateDir);
    // Changes seen while prefetching (before start) wait for start: recovery may not be done.
    const trigger = (what: string) => (this.started ? this.reconciler.trigger(what) : undefined);
    this.pods = new Informer(store, 'Pod', trigger);
    this.namespaces = new Informer(store, 'Namespace', trigger);
    this.policies = new Informer(store, 'NetworkPolicy', trigger);
    this.dataplane = new PolicyDataplane({ runDir });
    this.reconciler = new Reconciler('policy', () => this.reconcile(), log, { debounceMs: 15, periodMs: 60_000 });
  }

  /**
   * Starts reading the policy inputs (30,000 pods take seconds to list) without reconciling:
   * the agent calls it first thing, so the lists overlap its start-up and the first policy
   * reconcile need not wait for them after the routes.
   */
  prefetch(): void {
    this.connecting ??= this.connect();
  }

  start(): void {
    this.started = true;
    this.reconciler.start();
    this.prefetch();
    if (this.ready) this.reconciler.trigger('agent start');
  }

  stop(): void {
    this.stopped = true;
    this.reconciler.stop();
    this.dataplane.close();
    for (const i of [this.pods, this.namespaces, this.policies]) i.stop();
  }

  private async connect(): Promise<void> {
    await this.accepted.load();
    let delay = 250;
    for (const inf of [this.namespaces, this.pods, this.policies]) {
      while (!inf.synced && !this.stopped) {
        try {
          await inf.start();
        } catch (e) {
          this.log.warn('cannot read policy inputs from the datastore; retrying', { error: describeError(e), retryInMs: delay });
          await new Promise((r) => setTimeout(r, delay).unref());
          delay = Math.min(delay * 2, 5000);
        }
      }
    }
  }

  /** The state audit's check of the accepted-policy cache (state-audit.ts). */
  auditCache(): Promise<AuditFinding[]> {
    return this.accepted.audit();
  }

  get ready(): boolean {
    return this.pods.synced && this.namespaces.synced && this.policies.synced;
  }

  /**
   * CNI ADD's wait: resolves only once a reconcile that includes `att` succeeded and the kernel's
   * anti-spoofing set holds the pod's interface and addresses (read back). Otherwise throws
   * TRY_AGAIN (CNI code 11) saying why, and ADD undoes itself: a pod never starts before its
   * policy is in the kernel.
   */
  async endpointsChanged(att: Attachment, timeoutMs = 3000): Promise<void> {
    const pod = att.pod ? `${att.pod.namespace}/${att.pod.name}` : `${att.containerId}/${att.ifname}`;
    if (!this.ready) {
      throw new TwillError('TRY_AGAIN', `cannot confirm the NetworkPolicy of pod ${pod}: this agent has not read the policy inputs from the datastore yet (is it reachable? see twill status); retry shortly`);
    }
    const done = this.reconciler.settled();
    this.reconciler.trigger('local endpoint changed');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([done.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs)))]);
    clearTimeout(timer);
    if (timedOut) throw new TwillError('TRY_AGAIN', `cannot confirm the NetworkPolicy of pod ${pod}: no policy reconcile completed within ${timeoutMs} ms; retry shortly`);
    const st = this.reconciler.status();
    if (st.lastError) throw new TwillError('TRY_AGAIN', `cannot confirm the NetworkPolicy of pod ${pod}: the policy reconcile failed (${st.lastError}); it is retried, and so should this ADD be`);
    for (const ip of att.ips) {
      if (!(await this.dataplane.endpointInKernel(NFT_TABLE_POLICY, att.hostIface, ip))) {
        throw new TwillError('TRY_AGAIN', `cannot confirm the NetworkPolicy of pod ${pod}: the kernel's anti-spoofing set lacks ${att.hostIface} . ${ip} after the reconcile; retry shortly`);
      }
    }
  }

  /**
   * Resolves once this node's ruleset reflects everything the datastore held when it was called:
   * the caches caught up with a fresh list, then a whole reconcile ran. Tests and tools that
   * change policy inputs call it (through the agent API) to know when the datapath follows.
   */
  async sync(timeoutMs = 5000): Promise<{ runs: number; lastChanges?: number }> {
    if (!this.ready) throw new TwillError('TRY_AGAIN', 'policy inputs are not read from the datastore yet; retry shortly');
    const deadline = Date.now() + timeoutMs;
    await Promise.all([this.namespaces, this.pods, this.policies].map((i) => i.caughtUp(deadline)));
    const done = this.reconciler.settled();
    this.reconciler.trigger('sync requested');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([done.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), Math.max(0, deadline - Date.now()))))]);
    clearTimeout(timer);
    if (timedOut) throw new TwillError('TIMEOUT', `no policy reconcile completed within ${timeoutMs} ms`);
    const st = this.reconciler.status();
    if (st.lastError) throw new TwillError('INTERNAL', `the policy reconcile failed: ${st.lastError}`);
    return { runs: st.runs, lastChanges: st.lastChanges };
  }

  /** The policies to compile: accepted ones, and the last accepted version of rejected updates. */
  private effectivePolicies(): NetworkPolicy[] {
    const out: NetworkPolicy[] = [];
    const live = new Set<string>();
    for (const p of this.policies.list()) {
      const key = objectKey(p);
      live.add(key);
      const errors = validateNetworkPolicy(p);
      if (errors.length === 0) {
        this.accepted.set(key, p);
        if (this.rejected.delete(key)) this.log.info('policy accepted', { policy: key });
        out.push(p);
        continue;
      }
      const reason = errors.map((e) => `${e.field}: ${e.message}`).join('; ');
      const prev = this.accepted.get(key);
      const was = this.rejected.get(key);
      if (!was || was.reason !== reason) {
        this.log.error('policy rejected', { policy: key, reason, inForce: prev ? 'the previously accepted version' : 'nothing' });
      }
      this.rejected.set(key, { reason, previousVersionInForce: !!prev });
      if (prev) out.push(prev);
    }
    this.accepted.retain(live);
    for (const key of [...this.rejected.keys()]) if (!live.has(key)) this.rejected.delete(key);
    return out;
  }

  /**
   * Store pods, with this node's pods completed from what CNI ADD recorded. Reads the informer's
   * map in place (no copy of 30,000 pods into a second map per reconcile).
   */
  private snapshotInput(): { pods: Pod[]; localEndpoints: LocalEndpoint[] } {
    const store = this.pods.items;
    const completed = new Map<string, Pod>();
    const localEndpoints: LocalEndpoint[] = [];
    let mine: Pod[] | undefined;
    for (const a of this.attachments()) {
      // A record rebuilt from the kernel lost the pod's name: the Pod object with its address says it.
      mine ??= a.pod ? undefined : [...store.values()].filter((p) => p.spec.nodeName === this.nodeName);
      const byIp = a.pod ? undefined : mine!.find((p) => a.ips.every((ip) => (p.status?.podIPs?.map((x) => x.ip) ?? [p.status?.podIP]).includes(ip)));
      const ns = a.pod?.namespace ?? byIp?.metadata.namespace ?? 'unknown-namespace';
      const name = a.pod?.name ?? byIp?.metadata.name ?? `unknown-${a.containerId.slice(0, 12)}`;
      const key = `${ns}/${name}`;
      const known = completed.get(key) ?? store.get(key);
      const ips = known?.status?.podIPs?.map((x) => x.ip) ?? (known?.status?.podIP ? [known.status.podIP] : []);
      if (!known || ips.length === 0 || !a.ips.every((ip) => ips.includes(ip))) {
        completed.set(key, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { namespace: ns, name, labels: known?.metadata.labels ?? {} },
          spec: { nodeName: this.nodeName, containers: known?.spec.containers ?? [] },
          status: { phase: 'Running', podIP: a.ips[0]!, podIPs: a.ips.map((ip) => ({ ip })) },
        });
      }
      for (const ip of a.ips) localEndpoints.push({ namespace: ns, name, ip, hostIface: a.hostIface });
    }
    const pods: Pod[] = [];
    for (const [key, p] of store) if (!completed.has(key)) pods.push(p);
    for (const p of completed.values()) pods.push(p);
    return { pods, localEndpoints };
  }

  private async reconcile(): Promise<ReconcileOutcome> {
    if (!this.ready) return { changes: 0, detail: { skipped: 'policy inputs not read from the datastore yet' } };
    const policies = this.effectivePolicies();
    await this.accepted.save();
    const { pods, localEndpoints } = this.snapshotInput();
    const { snapshot } = buildSnapshot({ node: this.nodeName, namespaces: this.namespaces.list(), pods, policies, localEndpoints });
    const model = this.compiler.compile(snapshot);
    const r = await this.dataplane.apply(model);
    this.snapshot = snapshot;
    // The compiler's index of this snapshot serves flow records and the UI: a second index of
    // 30,000 pods cost ~26 MB (heap snapshot of the scale bench).
    const index = this.compiler.index;
    this.indexed = index ? { snapshot, index } : undefined;
    this.info = model.info;
    this.firstFullAt ??= new Date().toISOString();
    if (r.fallback) this.log.debug('incremental policy update sent with nft -f', { why: r.fallback });
    return { changes: r.changes, detail: { mode: r.mode, via: r.via, policies: policies.length, rejected: this.rejected.size || undefined, localPods: localEndpoints.length, bytes: r.bytes || undefined } };
  }

  /** What flow records are resolved against: the index of the last applied snapshot (the one `explain` uses) and its chain names. */
  flowContext(): FlowContext {
    const s = this.snapshot;
    if (s && this.indexed?.snapshot !== s) this.indexed = { snapshot: s, index: indexSnapshot(s) };
    return { node: this.nodeName, ...(this.indexed ? { index: this.indexed.index } : {}), ...(this.info ? { info: this.info } : {}) };
  }

  /** Every pod of the last snapshot with the policies selecting it per direction (the UI's policy view). */
  podPolicies(): { pod: string; node: string; ips: string[]; labels: Record<string, string>; ingress: string[]; egress: string[] }[] {
    const idx = this.flowContext().index;
    if (!idx) return [];
    const select = (pod: (typeof idx.pods)[number], type: 'Ingress' | 'Egress'): string[] =>
      idx.policies.filter((p) => p.metadata.namespace === pod.namespace && effectivePolicyTypes(p).includes(type) && selectorMatches(p.spec.podSelector, pod.labels)).map((p) => objectKey(p));
    return idx.pods.map((pod) => ({ pod: pod.key, node: pod.node, ips: pod.ips, labels: pod.labels, ingress: select(pod, 'Ingress'), egress: select(pod, 'Egress') }));
  }

  /** Rule counters per policy (from the kernel's table). */
  async counters(): Promise<CounterReport | undefined> {
    return this.dataplane.applied ? this.dataplane.counters() : undefined;
  }

  explain(flow: Flow): Verdict {
    if (!this.snapshot) throw new TwillError('TRY_AGAIN', 'no policy snapshot yet (the agent is still reading the datastore)');
    return evaluate(this.snapshot, flow);
  }

  async status(): Promise<PolicyStatusEntry[]> {
    const counters = new Map<string, { allowedPackets: number; droppedPackets: number }>();
    if (this.dataplane.applied) {
      try {
        for (const c of (await this.dataplane.counters()).policies) {
          counters.set(c.policy, {
            allowedPackets: c.ingressAllowed.packets + c.egressAllowed.packets,
            droppedPackets: c.ingressDropped.packets + c.egressDropped.packets,
          });
        }
      } catch (e) {
        // why: read-only: the status lists the policies without counters this time
        this.log.debug('cannot read policy counters', { error: describeError(e) });
      }
    }
    return this.policies
      .list()
      .map((p) => {
        const key = objectKey(p);
        const rej = this.rejected.get(key);
        const c = counters.get(key);
        return {
          namespace: p.metadata.namespace,
          name: p.metadata.name,
          accepted: !rej,
          ...(rej ? { reason: rej.reason, previousVersionInForce: rej.previousVersionInForce } : {}),
          ...(c ? { counters: c } : {}),
        };
      })
      .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  }

  /** Watch restarts of the policy inputs' informers. */
  watchResyncs(): number {
    return this.pods.resyncs + this.namespaces.resyncs + this.policies.resyncs;
  }

  summary(): Record<string, unknown> {
    return { ...this.reconciler.status(), ready: this.ready, firstFullReconcileAt: this.firstFullAt, policies: this.policies.items.size, rejected: this.rejected.size, updates: this.dataplane.method };
  }
}
