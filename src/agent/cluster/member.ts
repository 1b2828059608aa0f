// Cluster membership: the cluster configuration, this node's registration (a TwillNode attached
// to a lease, so it vanishes when the agent dies), the peer list (list + watch), block claims and
// the return of dead nodes' blocks. The datastore may be unreachable at any time: the agent keeps
// serving pods from its cached blocks and leaves the datapath as it is until it can see again.
import { join } from 'node:path';
import type { Store, Watch } from '../../datastore/store.js';
import { vtepIp, vtepMac } from '../../dataplane/routing/index.js';
import { BlockClaims } from '../../ipam/cluster/claims.js';
import { FixedBlocks, type BlockHolder } from '../../ipam/cluster/fixed.js';
import type { BlockSource } from '../../ipam/local/index.js';
import { validatePool } from '../../ipam/cluster/pool.js';
import { TWILL_API, type TwillNode } from '../../model/types.js';
import { describeError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import type { Problems } from '../problems.js';
import { Informer } from '../informer.js';
import { detectUnderlay, type Underlay } from '../underlay.js';
import { CLUSTER_CONFIG_NAME, NodeRegistration } from './registration.js';
import { ClusterConfigSource, type ClusterSpec } from './config.js';
import { reclaimDeadNodes } from './reclaim.js';
import { ClaimFreeze, vanishedBlocks } from './reset.js';
import type { InflightJournal } from '../inflight.js';

export type { ClusterSpec };
export { CLUSTER_CONFIG_NAME };

export interface ClusterSettings {
  store: Store;
  nodeName: string;
  stateDir: string;
  /** Used when the datastore holds no ClusterConfig yet (the first agent writes it). */
  bootstrap: ClusterSpec;
  leaseTtlSeconds: number;
  underlayIface?: string | undefined;
  /** Without underlayIface: the interface holding this address (the Node's InternalIP). */
  underlayAddress?: string | undefined;
  /** `ipam: kubernetes`: the Node's podCIDRs instead of claimed blocks. */
  fixedBlocks?: string[] | undefined;
  agentVersion: string;
  log: Logger;
  /** Where faults that outlast one attempt are shown (`twill status`). */
  problems: Problems;
  /** Something routing depends on changed: peers, config, our blocks. */
  onChange: (what: string) => void;
  podMTU: () => number | undefined;
  /**
   * Monotonic milliseconds for grace periods (default performance.now()): a wall-clock jump
   * (NTP step, a wrong RTC at boot) must neither free a live node's blocks early nor hold a dead
   * node's forever. Tests may pass their own.
   */
  monotonicMs?: () => number;
  /** Names a block claim in flight, so a restart after a kill can say it interrupted one. */
  journal?: InflightJournal;
  /**
   * How long new block claims stay frozen after the datastore lost its data (default: three lease
   * TTLs, at least 30 s): the time every live agent needs to notice and write back its blocks.
   */
  resetFreezeMs?: number;
  /** Runs before each (re-)registration: encryption prepares its key so the record carries it. */
  beforeRegister?: () => Promise<void>;
  /** The WireGuard key and port this node publishes, if encryption is on. */
  wireguard?: () => { publicKey: string; port: number } | undefined;
}

export class ClusterMember {
  config!: ClusterSpec;
  underlay!: Underlay;
  claims!: BlockHolder;
  readonly peers = new Map<string, TwillNode>();
  /** True once a complete peer list has been read: before that, routing must not run. */
  peersKnown = false;
  readonly goneSince = new Map<string, number>();
  datastoreUp = false;
  private readonly registration: NodeRegistration;
  private readonly freeze: ClaimFreeze;
  private readonly configSource: ClusterConfigSource;
  /** Every IPAMBlock, watched: the reclaim timer reads it instead of listing (1,000 nodes × a list each tick is a storm). */
  private blocks: Informer<'IPAMBlock'> | undefined;
  private watches: Watch[] = [];
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;

  private readonly mono: () => number;

  constructor(private readonly s: ClusterSettings) {
    this.mono = s.monotonicMs ?? (() => performance.now());
    this.configSource = new ClusterConfigSource(s.store, s.stateDir, s.bootstrap, s.log);
    this.registration = new NodeRegistration({
      store: s.store, leaseTtlSeconds: s.leaseTtlSeconds, log: s.log, problems: s.problems,
      nodeObject: () => this.nodeObject(), config: () => this.config, claims: () => this.claims, stopped: () => this.stopped,
      onDataLost: (why) => this.freeze.freeze(why),
    });
    this.freeze = new ClaimFreeze(s.problems, this.mono, s.resetFreezeMs ?? Math.max(30_000, 3 * s.leaseTtlSeconds * 1000));
  }

  get nodeName(): string {
    return this.s.nodeName;
  }

  private get log(): Logger {
    return this.s.log;
  }

  async start(): Promise<void> {
    this.underlay = await detectUnderlay(this.s.underlayIface, this.s.underlayAddress);
    this.config = await this.configSource.load();
    validatePool({ pool: this.config.pool, blockPrefix: this.config.blockPrefix });
    this.claims = this.s.fixedBlocks
      ? new FixedBlocks(this.s.fixedBlocks)
      : new BlockClaims(this.s.store, this.s.nodeName, { pool: this.config.pool, blockPrefix: this.config.blockPrefix }, join(this.s.stateDir, 'blocks.json'), this.log.child('ipam'));
    if (this.claims instanceof BlockClaims) {
      this.claims.onWrittenBack = (b) => {
        this.s.problems.event('block-record-deleted', 'warn', 'an IPAMBlock this node holds was missing from the datastore; wrote it back', { block: b });
        this.freeze.freeze(`block ${b} was missing`);
      };
      this.claims.claimGate = () => this.claimsFrozen();
    }
    await this.claims.init();
    await this.claimed(() => this.claims.ensureOne()).catch((e: unknown) => this.log.warn('no address block yet; will keep trying', { error: describeError(e) }));
    void this.connectLoop();
    const reclaimEvery = Math.max(1000, Math.min(30_000, (this.config.blockGraceSeconds * 1000) / 4));
    if (!this.s.fixedBlocks) this.timers.push(setInterval(() => void this.reclaimTick(), reclaimEvery));
    for (const t of this.timers) t.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.watches) w.stop();
    this.blocks?.stop();
    for (const t of this.timers) clearInterval(t);
    await this.registration.close();
  }

  /** The block source LocalIpam allocates from: claiming a block re-advertises our node. */
  blockSource(): BlockSource {
    return {
      current: () => this.claims.current(),
      claimMore: async () => {
        const b = await this.claimed(() => this.claims.claimMore());
        if (b) {
          this.registerInBackground(`claimed block ${b}`);
          this.s.onChange(`claimed block ${b}`);
        }
        return b;
      },
    };
  }

  /** Why new block claims are refused now (undefined: they are not); see reset.ts. */
  claimsFrozen(): string | undefined {
    return this.freeze.reason();
  }

  private async claimed<T>(fn: () => Promise<T>): Promise<T> {
    const end = this.s.journal?.begin('claim', `a block for ${this.s.nodeName}`);
    try {
      return await fn();
    } finally {
      end?.();
    }
  }

  private applyConfig(spec: ClusterSpec): void {
    if (JSON.stringify(spec) === JSON.stringify(this.config)) return;
    this.log.info('cluster configuration changed', { backend: spec.backend, pool: spec.pool, vni: spec.vxlan.vni, directRouting: spec.vxlan.directRouting, natOutgoing: spec.natOutgoing, encryption: spec.encryption ?? 'none' });
    this.config = spec;
    this.claims.setPool({ pool: spec.pool, blockPrefix: spec.blockPrefix });
    this.configSource.cache(spec).catch((e: unknown) => this.log.warn('cannot cache the cluster configuration on disk (a restart during a datastore outage would use the flags)', { error: describeError(e) }));
    this.registerInBackground('cluster configuration changed');
    this.s.onChange('cluster configuration');
  }

  // ---- datastore connection: registration and watches ----

  private async connectLoop(): Promise<void> {
    let delay = 250;
    while (!this.stopped) {
      try {
        await this.connect();
        return;
      } catch (e) {
        this.datastoreUp = false;
        this.log.warn('datastore not reachable; retrying', { error: describeError(e), retryInMs: delay });
        await new Promise((r) => setTimeout(r, delay).unref());
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  private async connect(): Promise<void> {
    const cfg = await this.s.store.get('ClusterConfig', CLUSTER_CONFIG_NAME);
    if (cfg) this.applyConfig(cfg.spec);
    await this.claims.resync();
    await this.claimed(() => this.claims.ensureOne());
    await this.s.beforeRegister?.();
    await this.register(true);
    await this.watchNodes();
    this.watches.push(await this.configSource.watch((spec) => this.applyConfig(spec)));
    if (!this.s.fixedBlocks && !this.blocks) {
      const inf = new Informer(this.s.store, 'IPAMBlock', (what) => this.onBlocksChange(what));
      await inf.start();
      this.blocks = inf;
      // Encryption holds gone peers while they still claim their blocks: it can judge now.
      this.s.onChange('block list');
    }
    this.datastoreUp = true;
    this.log.info('joined the cluster', { node: this.s.nodeName, underlay: `${this.underlay.ip} (${this.underlay.iface})`, blocks: this.claims.current().join(','), peers: this.peers.size });
  }

  /** A block we hold vanished from the datastore: write it back now, loudly (reset.ts). */
  private onBlocksChange(what: string): void {
    if (!this.blocks?.synced || this.stopped) return;
    const missing = vanishedBlocks(what, this.blocks.list(), this.s.nodeName, this.claims.current());
    if (missing.length === 0) return;
    this.s.problems.event('block-record-deleted', 'warn', 'an IPAMBlock this node holds vanished from the datastore (deleted by hand, or reclaimed while this node was cut off); writing it back', { blocks: missing.join(','), event: what });
    this.registerInBackground(`our IPAMBlock ${missing.join(',')} vanished`);
  }

  nodeObject(): TwillNode {
    const blocks = this.claims.current();
    const vxlan = this.config.backend === 'vxlan';
    return {
      apiVersion: TWILL_API,
      kind: 'TwillNode',
      metadata: { name: this.s.nodeName },
      spec: {
        underlayIP: this.underlay.ip,
        underlayCIDR: this.underlay.cidr,
        backend: this.config.backend,
        ...(vxlan ? { vtepMAC: vtepMac(this.s.nodeName) } : {}),
        ...(vxlan && vtepIp(blocks) ? { vtepIP: vtepIp(blocks)! } : {}),
        blocks,
        ...(this.s.podMTU() !== undefined ? { podMTU: this.s.podMTU()! } : {}),
        agentVersion: this.s.agentVersion,
        ...(this.s.wireguard?.() ? { wireguard: this.s.wireguard()! } : {}),
      },
    };
  }

  /** Writes our TwillNode (attached to our liveness lease) when its content changed or `force`. */
  register(force = false): Promise<void> {
    return this.registration.register(force);
  }

  /** Registers (again) until it works, retried with backoff and shown (registration.ts). */
  registerInBackground(reason: string): void {
    this.registration.inBackground(reason);
  }

  /** Resolves when no registration is pending (tests). */
  registrationSettled(): Promise<void> {
    return this.registration.settled();
  }

  private onNodeEvent(n: TwillNode, deleted: boolean): void {
    const name = n.metadata.name;
    if (name === this.s.nodeName) {
      // Our own record vanished (deleted by hand, or the lease expired while we were cut off):
      // peers withdraw their routes to our pods until it is back, so put it back, loudly.
      if (deleted && !this.stopped) {
        this.s.problems.event('node-record-deleted', 'warn', 'this node\'s TwillNode was deleted from the datastore (by hand, or its lease expired while cut off); peers withdraw their routes to its pods until it is written back; writing it back');
        this.registration.forget();
        this.registerInBackground('our TwillNode was deleted (lease expired while cut off?)');
      }
      return;
    }
    if (deleted) {
      this.peers.delete(name);
      this.goneSince.set(name, this.mono());
    } else {
      this.peers.set(name, n);
      this.goneSince.delete(name);
    }
  }

  private async watchNodes(): Promise<void> {
    const { items, revision } = await this.s.store.list('TwillNode');
    this.resetPeers(items);
    this.watches.push(
      this.s.store.watch('TwillNode', {
        fromRevision: revision,
        onEvent: (ev) => {
          if (ev.type === 'RESYNC') {
            this.resetPeers(ev.items);
            if (!ev.items.some((n) => n.metadata.name === this.s.nodeName)) {
              this.freeze.freeze('this node\'s TwillNode was missing after a relist');
              this.s.problems.event('datastore-reset', 'warn', 'this node\'s TwillNode is missing from the datastore after a relist (its data lost or restored?); writing back the configuration, blocks and registration');
              this.registration.forget();
              this.registerInBackground('our TwillNode is missing after a relist');
            }
          }
          else this.onNodeEvent(ev.object, ev.type === 'DELETED');
          this.s.onChange(ev.type === 'RESYNC' ? 'peer list resynced' : `node ${ev.object.metadata.name} ${ev.type.toLowerCase()}`);
        },
        onStatus: (st) => {
          // Lost is a fault (the node cannot see peers or claim blocks; the datapath stays as it is).
          if (st.connected !== this.datastoreUp) this.log.log(st.connected ? 'info' : 'warn', st.connected ? 'datastore connection restored' : 'datastore connection lost; the datapath stays as it is until it is back', st.error ? { error: describeError(st.error) } : {});
          this.datastoreUp = st.connected;
          if (st.connected) this.registerInBackground('datastore connection restored');
        },
      }),
    );
    this.peersKnown = true;
    this.s.onChange('peer list');
  }

  private resetPeers(items: TwillNode[]): void {
    const now = this.mono();
    const seen = new Set<string>();
    for (const n of items) {
      if (n.metadata.name === this.s.nodeName) continue;
      seen.add(n.metadata.name);
      this.peers.set(n.metadata.name, n);
      this.goneSince.delete(n.metadata.name);
    }
    for (const name of [...this.peers.keys()]) {
      if (!seen.has(name)) {
        this.peers.delete(name);
        this.goneSince.set(name, now);
      }
    }
  }

  /** Dead nodes' blocks go back to the pool after the grace period (reclaim.ts). */
  private async reclaimTick(): Promise<void> {
    if (!this.datastoreUp || !this.peersKnown) return;
    await reclaimDeadNodes({
      store: this.s.store, nodeName: this.s.nodeName, claims: this.claims, peers: this.peers, goneSince: this.goneSince,
      blocks: this.blocks?.synced ? this.blocks.list() : undefined, graceMs: this.config.blockGraceSeconds * 1000, nowMs: this.mono(), log: this.log,
    });
  }

  /** The blocks the datastore says `node` claims; undefined with fixed blocks or before the block list is read. */
  claimedBlocks(node: string): string[] | undefined {
    if (this.s.fixedBlocks || !this.blocks?.synced) return undefined;
    return this.blocks.list().filter((b) => b.spec.node === node).map((b) => b.spec.cidr);
  }

  status(): Record<string, unknown> {
    return {
      datastore: { name: this.s.store.name, connected: this.datastoreUp, security: this.s.store.security },
      config: this.config,
      underlay: this.underlay,
      blocks: this.claims?.current(),
      lostBlocks: this.claims?.lostBlocks().length ? this.claims.lostBlocks() : undefined,
      blockCacheError: this.claims?.cacheError,
      claimsFrozen: this.claimsFrozen(),
      peers: [...this.peers.values()].map((p) => ({ name: p.metadata.name, underlayIP: p.spec.underlayIP, backend: p.spec.backend, blocks: p.spec.blocks })),
      deadNodes: Object.fromEntries([...this.goneSince].map(([n, t]) => [n, `${Math.round((this.mono() - t) / 1000)}s`])),
    };
  }
}
