// Routing and outbound NAT for this node: snapshot (self + peers + config) → compileRouting →
// diff-and-apply; compileNat → apply. Runs under the shared Reconciler (debounced, never
// overlapping, periodic safety net). Never runs before the peer list is known, so an agent that
// starts while the datastore is down leaves the datapath exactly as it found it.
import { applyRouting, compileRouting, type DesiredRouting, type PeerNode, type RoutingSnapshot } from '../dataplane/routing/index.js';
import { applyNat, compileNat } from '../dataplane/nat/index.js';
import type { Logger } from '../util/log.js';
import type { ClusterMember } from './cluster/member.js';
import { Reconciler, type ReconcileOutcome } from './reconciler.js';

export class RoutingController {
  readonly reconciler: Reconciler;
  private last: DesiredRouting | undefined;
  /** What the last successful run was computed from: lets callers wait for a switch to finish. */
  private applied: { backend: string; peers: number; peersOnBackend: number } | undefined;
  private periodicRuns = 0;
  /** When routes were first programmed from the full peer list. */
  private firstAppliedAt: string | undefined;

  constructor(
    private readonly cluster: ClusterMember,
    private readonly runDir: string,
    private readonly log: Logger,
    /** Called after each run that programmed routes with the full peer list. */
    private readonly onApplied?: () => void,
  ) {
    this.reconciler = new Reconciler('routing', (reason) => this.reconcile(reason), log, { debounceMs: 10, periodMs: 30_000 });
  }

  snapshot(): RoutingSnapshot {
    return { ...this.selfSnapshot(), peers: this.peers() };
  }

  private peers(): PeerNode[] {
    return [...this.cluster.peers.values()].map((n) => ({
      name: n.metadata.name,
      underlayIP: n.spec.underlayIP,
      underlayCIDR: n.spec.underlayCIDR,
      backend: n.spec.backend,
      vtepMAC: n.spec.vtepMAC,
      vtepIP: n.spec.vtepIP,
      blocks: n.spec.blocks,
    }));
  }

  private selfSnapshot(): Omit<RoutingSnapshot, 'peers'> {
    const c = this.cluster;
    return {
      self: {
        name: c.nodeName,
        underlayIP: c.underlay.ip,
        underlayCIDR: c.underlay.cidr,
        underlayIface: c.underlay.iface,
        underlayMTU: c.underlay.mtu,
        blocks: c.claims.current(),
      },
      config: { backend: c.config.backend, vxlan: c.config.vxlan },
    };
  }

  /** Pod MTU for the current backend (before the first reconcile: computed from the snapshot). */
  podMTU(): number {
    // The MTU depends on this node and the backend only: without peers the compile is cheap (the
    // status API asks often, and 1,000 peers made each answer a whole routing compile).
    return (this.last ?? compileRouting({ ...this.selfSnapshot(), peers: [] })).podMTU;
  }

  private async reconcile(reason: string): Promise<ReconcileOutcome> {
    if (!this.cluster.peersKnown) return { changes: 0, detail: { skipped: 'peer list not known yet' } };
    const snap = this.snapshot();
    const desired = compileRouting(snap);
    const summary = await applyRouting(desired);
    const periodic = reason === 'periodic';
    if (periodic) this.periodicRuns++;
    const nat = await applyNat(compileNat({ enabled: this.cluster.config.natOutgoing, pools: [this.cluster.config.pool] }), {
      runDir: this.runDir,
      // Every tenth safety-net run rewrites the table, to repair hand edits.
      force: periodic && this.periodicRuns % 10 === 0,
    });
    for (const pe of desired.peerErrors) if (!this.last?.peerErrors.some((x) => x.peer === pe.peer && x.reason === pe.reason)) this.log.error('cannot reach peer', { peer: pe.peer, reason: pe.reason });
    this.last = desired;
    this.applied = { backend: snap.config.backend, peers: snap.peers.length, peersOnBackend: snap.peers.filter((p) => p.backend === snap.config.backend).length };
    const changes = summary.added + summary.removed + summary.changed + (nat.changed ? 1 : 0);
    this.firstAppliedAt ??= new Date().toISOString();
    this.onApplied?.();
    return {
      changes,
      detail: { peers: this.cluster.peers.size, routes: desired.routes.length, added: summary.added, removed: summary.removed, changed: summary.changed, nat: nat.changed || undefined, peerErrors: desired.peerErrors.length || undefined },
    };
  }

  status(): Record<string, unknown> {
    return {
      ...this.reconciler.status(),
      backend: this.cluster.config.backend,
      applied: this.applied,
      firstAppliedAt: this.firstAppliedAt,
      podMTU: this.last?.podMTU,
      routes: this.last?.routes.length,
      peerErrors: this.last?.peerErrors,
    };
  }
}
