// Cluster membership: the cluster configuration, this node's registration (a TwillNode attached
// to a lease, so it vanishes when the agent dies), the peer list (list + watch), block claims and
// the return of dead nodes' blocks. The datastore may be unreachable at any time: the agent keeps
// serving pods from its cached blocks and leaves the datapath as it is until it can see again.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LeasedObjects } from '../datastore/index.js';
import type { Store, Watch } from '../datastore/store.js';
import { vtepIp, vtepMac } from '../dataplane/routing/index.js';
import { BlockClaims } from '../ipam/cluster/claims.js';
import { FixedBlocks, type BlockHolder } from '../ipam/cluster/fixed.js';
import type { BlockSource } from '../ipam/local/index.js';
import { validatePool } from '../ipam/cluster/pool.js';
import { TWILL_API, type ClusterConfig, type TwillNode } from '../model/types.js';
import { describeError, isTwillError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { Problems } from './problems.js';
import { Informer } from './informer.js';
import { detectUnderlay, type Underlay } from './underlay.js';

export type ClusterSpec = ClusterConfig['spec'];
export const CLUSTER_CONFIG_NAME = 'default';

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
  private registration: LeasedObjects | undefined;
  /** Every IPAMBlock, watched: the reclaim timer reads it instead of listing (1,000 nodes × a list each tick is a storm). */
  private blocks: Informer<'IPAMBlock'> | undefined;
  private watches: Watch[] = [];
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private registered = '';
  private registering: Promise<void> | undefined;
  private registerAgain = false;

  private readonly mono: () => number;

  constructor(private readonly s: ClusterSettings) {
    this.mono = s.monotonicMs ?? (() => performance.now());
  }

  get nodeName(): string {
    return this.s.nodeName;
  }

  private get log(): Logger {
    return this.s.log;
  }

  async start(): Promise<void> {
    this.underlay = await detectUnderlay(this.s.underlayIface, this.s.underlayAddress);
    this.config = await this.loadConfig();
    validatePool({ pool: this.config.pool, blockPrefix: this.config.blockPrefix });
    this.claims = this.s.fixedBlocks
      ? new FixedBlocks(this.s.fixedBlocks)
      : new BlockClaims(this.s.store, this.s.nodeName, { pool: this.config.pool, blockPrefix: this.config.blockPrefix }, join(this.s.stateDir, 'blocks.json'), this.log.child('ipam'));
    await this.claims.init();
    await this.claims.ensureOne().catch((e: unknown) => this.log.warn('no address block yet; will keep trying', { error: describeError(e) }));
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
    // Keep the registration until the lease runs out: a restarting agent must not make its peers
    // withdraw routes to its pods.
    await this.registration?.close({ revoke: false });
  }

  /** The block source LocalIpam allocates from: claiming a block re-advertises our node. */
  blockSource(): BlockSource {
    return {
      current: () => this.claims.current(),
      claimMore: async () => {
        const b = await this.claims.claimMore();
        if (b) {
          this.registerInBackground(`claimed block ${b}`);
          this.s.onChange(`claimed block ${b}`);
        }
        return b;
      },
    };
  }

  // ---- configuration ----

  private configCache(): string {
    return join(this.s.stateDir, 'cluster-config.json');
  }

  private async loadConfig(): Promise<ClusterSpec> {
    try {
      const stored = await this.s.store.get('ClusterConfig', CLUSTER_CONFIG_NAME);
      const spec = stored?.spec ?? (await this.createConfig());
      await this.cacheConfig(spec);
      return spec;
    } catch (e) {
      try {
        const cached = JSON.parse(await readFile(this.configCache(), 'utf8')) as ClusterSpec;
        this.log.warn('datastore unreachable; using the cached cluster configuration', { error: describeError(e) });
        return cached;
      } catch {
        this.log.warn('datastore unreachable and no cached cluster configuration; using flags', { error: describeError(e) });
        return this.s.bootstrap;
      }
    }
  }

  private async createConfig(): Promise<ClusterSpec> {
    const obj: ClusterConfig = { apiVersion: TWILL_API, kind: 'ClusterConfig', metadata: { name: CLUSTER_CONFIG_NAME }, spec: this.s.bootstrap };
    try {
      return (await this.s.store.create(obj)).spec;
    } catch (e) {
      if (!isTwillError(e, 'EXISTS')) throw e;
      return (await this.s.store.get('ClusterConfig', CLUSTER_CONFIG_NAME))!.spec;
    }
  }

  private async cacheConfig(spec: ClusterSpec): Promise<void> {
    const file = this.configCache();
    await writeFile(`${file}.tmp`, JSON.stringify(spec) + '\n');
    await rename(`${file}.tmp`, file);
  }

  private applyConfig(spec: ClusterSpec): void {
    if (JSON.stringify(spec) === JSON.stringify(this.config)) return;
    this.log.info('cluster configuration changed', { backend: spec.backend, pool: spec.pool, vni: spec.vxlan.vni, directRouting: spec.vxlan.directRouting, natOutgoing: spec.natOutgoing, encryption: spec.encryption ?? 'none' });
    this.config = spec;
    this.claims.setPool({ pool: spec.pool, blockPrefix: spec.blockPrefix });
    this.cacheConfig(spec).catch((e: unknown) => this.log.warn('cannot cache the cluster configuration on disk (a restart during a datastore outage would use the flags)', { error: describeError(e) }));
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
    await this.claims.ensureOne();
    await this.s.beforeRegister?.();
    await this.register(true);
    await this.watchNodes();
    await this.watchConfig();
    if (!this.s.fixedBlocks && !this.blocks) {
      const inf = new Informer(this.s.store, 'IPAMBlock', () => undefined);
      await inf.start();
      this.blocks = inf;
      // Encryption holds gone peers while they still claim their blocks: it can judge now.
      this.s.onChange('block list');
    }
    this.datastoreUp = true;
    this.log.info('joined the cluster', { node: this.s.nodeName, underlay: `${this.underlay.ip} (${this.underlay.iface})`, blocks: this.claims.current().join(','), peers: this.peers.size });
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
  async register(force = false): Promise<void> {
    const obj = this.nodeObject();
    const text = JSON.stringify(obj.spec);
    if (!force && text === this.registered) return;
    this.registration ??= await LeasedObjects.open(this.s.store, {
      ttlSeconds: this.s.leaseTtlSeconds,
      onLost: () => this.log.warn('liveness lease lost; registering again'),
      onRegained: () => this.log.info('registered again under a new lease'),
    });
    await this.registration.put(obj);
    this.registered = text;
  }

  /**
   * Registers (again) until it works: peers withdraw the routes to a node whose TwillNode is gone,
   * so a failure here is never dropped. Each failed attempt is logged at error and shown in
   * `twill status` until one succeeds; attempts back off from 250 ms to 10 s.
   */
  registerInBackground(reason: string): void {
    this.registerAgain = true;
    if (this.registering) return;
    this.registering = (async () => {
      let delay = 250;
      while (this.registerAgain && !this.stopped) {
        this.registerAgain = false;
        try {
          // The datastore may have lost what we wrote (restored from an old backup, or its data
          // gone): put back the cluster configuration and our blocks before registering.
          await this.ensureConfigStored();
          await this.claims.resync();
          await this.register(true);
          this.s.problems.clear('registration', 'node registered again');
          this.s.problems.clear('datastore-reset', 'the datastore holds this node\'s registration and blocks again');
        } catch (e) {
          this.registerAgain = true;
          this.s.problems.report('registration', 'error', 'cannot register this node in the datastore; peers may withdraw their routes to its pods; retrying', { reason, error: describeError(e), retryInMs: delay });
          await new Promise((r) => setTimeout(r, delay).unref());
          delay = Math.min(delay * 2, 10_000);
        }
      }
    })().finally(() => (this.registering = undefined));
  }

  /** The ClusterConfig vanished from the datastore: write back the one this node runs with. */
  private async ensureConfigStored(): Promise<void> {
    if (await this.s.store.get('ClusterConfig', CLUSTER_CONFIG_NAME)) return;
    const obj: ClusterConfig = { apiVersion: TWILL_API, kind: 'ClusterConfig', metadata: { name: CLUSTER_CONFIG_NAME }, spec: this.config };
    try {
      await this.s.store.create(obj);
      this.s.problems.report('cluster-config', 'warn', 'the cluster configuration was missing from the datastore (data lost?); wrote back the one this node runs with', { backend: this.config.backend, pool: this.config.pool });
    } catch (e) {
      if (!isTwillError(e, 'EXISTS')) throw e;
    }
  }

  /** Resolves when no registration is pending (tests). */
  async registrationSettled(): Promise<void> {
    while (this.registering) await this.registering;
  }

  private onNodeEvent(n: TwillNode, deleted: boolean): void {
    const name = n.metadata.name;
    if (name === this.s.nodeName) {
      // Our own record vanished (lease expired while we were cut off): put it back.
      if (deleted && !this.stopped) {
        this.registered = '';
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
              this.s.problems.report('datastore-reset', 'warn', 'this node\'s TwillNode is missing from the datastore after a relist (its data lost or restored?); writing back the configuration, blocks and registration');
              this.registered = '';
              this.registerInBackground('our TwillNode is missing after a relist');
            }
          }
          else this.onNodeEvent(ev.object, ev.type === 'DELETED');
          this.s.onChange(ev.type === 'RESYNC' ? 'peer list resynced' : `node ${ev.object.metadata.name} ${ev.type.toLowerCase()}`);
        },
        onStatus: (st) => {
          if (st.connected !== this.datastoreUp) this.log.info(st.connected ? 'datastore connection restored' : 'datastore connection lost', st.error ? { error: describeError(st.error) } : {});
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

  private async watchConfig(): Promise<void> {
    const { items, revision } = await this.s.store.list('ClusterConfig');
    const mine = items.find((c) => c.metadata.name === CLUSTER_CONFIG_NAME);
    if (mine) this.applyConfig(mine.spec);
    this.watches.push(
      this.s.store.watch('ClusterConfig', {
        fromRevision: revision,
        onEvent: (ev) => {
          const obj = ev.type === 'RESYNC' ? ev.items.find((c) => c.metadata.name === CLUSTER_CONFIG_NAME) : ev.object;
          if (obj && obj.metadata.name === CLUSTER_CONFIG_NAME && ev.type !== 'DELETED') this.applyConfig(obj.spec);
        },
      }),
    );
  }

  /** Dead nodes' blocks go back to the pool after the grace period. */
  private async reclaimTick(): Promise<void> {
    if (!this.datastoreUp || !this.peersKnown) return;
    try {
      const items = this.blocks?.synced ? this.blocks.list() : (await this.s.store.list('IPAMBlock')).items;
      const now = this.mono();
      for (const b of items) {
        const holder = b.spec.node;
        if (holder !== this.s.nodeName && !this.peers.has(holder) && !this.goneSince.has(holder)) this.goneSince.set(holder, now);
      }
      const freed = await this.claims.reclaimDead(this.goneSince, this.config.blockGraceSeconds * 1000, now, items);
      for (const [node] of this.goneSince) {
        if (!items.some((b) => b.spec.node === node && !freed.includes(b.spec.cidr)) && !this.peers.has(node)) this.goneSince.delete(node);
      }
    } catch (e) {
      // Retried at the next tick; a dead node's blocks wait a little longer, nothing is lost.
      this.log.warn('cannot return dead nodes\' blocks to the pool this time; retrying', { error: describeError(e) });
    }
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
      peers: [...this.peers.values()].map((p) => ({ name: p.metadata.name, underlayIP: p.spec.underlayIP, backend: p.spec.backend, blocks: p.spec.blocks })),
      deadNodes: Object.fromEntries([...this.goneSince].map(([n, t]) => [n, `${Math.round((this.mono() - t) / 1000)}s`])),
    };
  }
}
