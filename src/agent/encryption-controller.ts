// Encryption for this node: the key pair (created on first start, kept 0600 in the state dir),
// the choice of implementation (kernel module or wireguard-go), and the reconcile loop
// snapshot → compileEncryption → applyEncryption under the shared Reconciler. Active while the
// ClusterConfig says `encryption: wireguard`; switched off, it removes what it installed.
// A watchdog polls the userspace process (every 250 ms): a dead wireguard-go is restarted by the
// next run; until then strict mode drops the traffic that would otherwise leave in clear.
// A peer whose TwillNode vanished (its agent down longer than the lease) is held on the device
// while its blocks are still its own (dataplane/encryption/hold.ts); the peers last applied are
// kept in <state dir>/wireguard/peers.json so that a restarted agent holds them too.
import { readFileSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  applyEncryption,
  compileEncryption,
  holdPeers,
  type EncryptionPeer,
  loadOrCreateKey,
  removeEncryption,
  writeNewKey,
  type DesiredEncryption,
  type EncryptionSnapshot,
  type KeyPair,
} from '../dataplane/encryption/index.js';
import { DEFAULT_WIREGUARD_PORT, WIREGUARD_DEVICE } from '../dataplane/kernel/names.js';
import { Netlink } from '../dataplane/kernel/netlink.js';
import { selectWireguard, userspacePaths, type WgDeviceHandle, type WgSelection } from '../dataplane/kernel/wireguard/index.js';
import type { WireguardSettings } from '../model/types.js';
import { TwillError, describeError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { ClusterMember } from './cluster/member.js';
import { Reconciler, type ReconcileOutcome } from './reconciler.js';

export const DEFAULT_WIREGUARD: WireguardSettings = { port: DEFAULT_WIREGUARD_PORT, strict: true, nodeTraffic: false };

export class EncryptionController {
  readonly reconciler: Reconciler;
  private key: KeyPair | undefined;
  private selection: WgSelection | undefined;
  private device: WgDeviceHandle | undefined;
  private pid: number | undefined;
  private last: DesiredEncryption | undefined;
  private installed = false;
  private watchdog: NodeJS.Timeout | undefined;
  /** The changes of the last run that changed something, for `twill status` and debugging. */
  private lastActions: string[] = [];
  /** A netlink socket of its own: a dump must not meet routing's concurrent dump (EBUSY). */
  private readonly nl = new Netlink();
  /** The peers last applied to the device (loaded from peersFile after a restart). */
  private known: EncryptionPeer[] | undefined;
  private knownText = '';
  /** Peers held without a TwillNode, and since when this agent has seen them gone. */
  private readonly goneSince = new Map<string, number>();
  private held: { node: string; goneForMs: number }[] = [];

  constructor(
    private readonly cluster: ClusterMember,
    private readonly stateDir: string,
    private readonly runDir: string,
    private readonly log: Logger,
  ) {
    this.reconciler = new Reconciler('encryption', (reason) => this.reconcile(reason), log, { debounceMs: 10, periodMs: 30_000 });
  }

  get keyFile(): string {
    return join(this.stateDir, 'wireguard', 'private.key');
  }

  get peersFile(): string {
    return join(this.stateDir, 'wireguard', 'peers.json');
  }

  get enabled(): boolean {
    return this.cluster.config?.encryption === 'wireguard';
  }

  settings(): WireguardSettings {
    return { ...DEFAULT_WIREGUARD, ...this.cluster.config?.wireguard };
  }

  /** What this node publishes in its TwillNode (undefined while encryption is off or not ready). */
  published(): { publicKey: string; port: number } | undefined {
    return this.enabled && this.key ? { publicKey: this.key.publicKey, port: this.settings().port } : undefined;
  }

  /** Pod MTU limit while encryption is on. */
  podMTU(): number | undefined {
    if (!this.enabled) return undefined;
    return this.last?.podMTU ?? this.cluster.underlay.mtu - 60;
  }

  /** Loads or creates the key and picks the implementation; before the node registers. */
  async prepare(): Promise<void> {
    if (!this.enabled || this.key) return;
    const k = await loadOrCreateKey(this.keyFile);
    this.key = { privateKey: k.privateKey, publicKey: k.publicKey };
    if (k.created) this.log.info('created this node\'s WireGuard key pair', { publicKey: k.publicKey, file: this.keyFile });
    this.selection ??= await selectWireguard(WIREGUARD_DEVICE);
    this.log.info('WireGuard implementation', { implementation: this.selection.implementation, why: this.selection.why });
    if (this.selection.implementation === 'userspace' && this.selection.warning) this.log.warn('WireGuard limit', { warning: this.selection.warning });
  }

  private async loadKnown(): Promise<EncryptionPeer[]> {
    if (this.known) return this.known;
    try {
      const text = await readFile(this.peersFile, 'utf8');
      const parsed = JSON.parse(text) as unknown;
      if (!Array.isArray(parsed) || !parsed.every((p: EncryptionPeer) => typeof p?.name === 'string' && typeof p.underlayIP === 'string' && Array.isArray(p.blocks))) {
        throw new TwillError('CONFIG_INVALID', 'not a list of peers');
      }
      this.known = parsed as EncryptionPeer[];
      this.knownText = text;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn('cannot read the peers last applied; peers without a TwillNode now are not held', { file: this.peersFile, error: describeError(e) });
      this.known = [];
    }
    return this.known;
  }

  private async saveKnown(peers: EncryptionPeer[]): Promise<void> {
    this.known = peers;
    const text = JSON.stringify(peers) + '\n';
    if (text === this.knownText) return;
    await writeFile(`${this.peersFile}.tmp`, text, { mode: 0o600 });
    await rename(`${this.peersFile}.tmp`, this.peersFile);
    this.knownText = text;
  }

  start(): void {
    this.reconciler.start();
    this.watchdog = setInterval(() => {
      if (this.pid !== undefined && !alive(this.pid)) {
        this.log.warn('wireguard-go exited; restarting it (strict mode drops pod traffic to other nodes meanwhile)', { pid: this.pid });
        this.pid = undefined;
        this.reconciler.trigger('wireguard-go exited');
      }
    }, 250);
    this.watchdog.unref();
  }

  stop(): void {
    this.reconciler.stop();
    clearInterval(this.watchdog);
    this.nl.close();
  }

  snapshot(): EncryptionSnapshot {
    const c = this.cluster;
    const s = this.settings();
    const self = { name: c.nodeName, underlayIP: c.underlay.ip, underlayMTU: c.underlay.mtu, blocks: c.claims.current(), publicKey: this.key?.publicKey ?? '' };
    const live: EncryptionPeer[] = [...c.peers.values()].map((n) => ({ name: n.metadata.name, underlayIP: n.spec.underlayIP, blocks: n.spec.blocks, wireguard: n.spec.wireguard }));
    const hold = holdPeers({
      live, known: this.known ?? [], self, nowMs: performance.now(), graceMs: c.config.blockGraceSeconds * 1000,
      goneSince: this.goneSince, claimedBy: (node) => c.claimedBlocks(node),
    });
    for (const r of hold.released) this.log.info('WireGuard peer released', { peer: r.name, why: r.why });
    for (const h of hold.held) {
      if (!this.held.some((x) => x.node === h.name)) this.log.info('holding the WireGuard peer of a node whose TwillNode is gone (agent down longer than its lease?) while its blocks are still its own', { peer: h.name, blocks: h.blocks.join(',') });
    }
    this.held = hold.held.map((h) => ({ node: h.name, goneForMs: h.goneForMs }));
    const peers = [...live, ...hold.held.map(({ goneForMs: _, ...p }) => p)];
    return { self, peers, config: { port: s.port, strict: s.strict, nodeTraffic: s.nodeTraffic, pools: [c.config.pool] } };
  }

  private async reconcile(reason: string): Promise<ReconcileOutcome> {
    if (!this.enabled) {
      if (!this.installed && reason !== 'agent start') return { changes: 0 };
      const actions = await removeEncryption({ runDir: this.runDir, nl: this.nl });
      if (actions.length) this.log.info('encryption switched off', { actions: actions.join('; ') });
      this.installed = false;
      this.last = undefined;
      this.pid = undefined;
      this.held = [];
      this.goneSince.clear();
      // why: the file only remembers peers across restarts; with encryption off there are none to hold
      await this.saveKnown([]).catch(() => undefined);
      return { changes: actions.length };
    }
    if (!this.cluster.peersKnown) return { changes: 0, detail: { skipped: 'peer list not known yet' } };
    await this.prepare();
    await this.loadKnown();
    const snap = this.snapshot();
    const desired = compileEncryption(snap);
    const r = await applyEncryption(desired, this.key!.privateKey, this.selection!, { runDir: this.runDir, nl: this.nl });
    this.installed = true;
    const applied = new Set(desired.peers.map((p) => p.node));
    await this.saveKnown(snap.peers.filter((p) => applied.has(p.name))).catch((e: unknown) => this.log.warn('cannot record the peers applied (a restart while a peer is gone would drop it)', { file: this.peersFile, error: describeError(e) }));
    this.device = r.device;
    this.pid = r.pid;
    for (const pe of desired.peerErrors) if (!this.last?.peerErrors.some((x) => x.peer === pe.peer && x.reason === pe.reason)) this.log.warn('encryption peer', pe);
    if (r.changes) {
      this.lastActions = r.actions;
      this.log.debug('encryption applied', { reason, actions: r.actions.join('; ') });
    }
    this.last = desired;
    // Published only once our device is configured: peers start sending when they see the key.
    await this.cluster.register().catch((e: unknown) => this.log.warn('cannot publish the WireGuard key yet', { error: describeError(e) }));
    return { changes: r.changes, detail: { peers: desired.peers.length, routes: desired.routes.length, peerErrors: desired.peerErrors.length || undefined } };
  }

  /** A new key pair: written, handed to the device, then published; peers follow their watch. */
  async rotateKey(): Promise<{ publicKey: string; previous: string }> {
    if (!this.enabled) throw new TwillError('NOT_FOUND', 'encryption is off in this cluster (ClusterConfig spec.encryption is not wireguard)');
    await this.prepare();
    const previous = this.key!.publicKey;
    this.key = await writeNewKey(this.keyFile);
    this.log.info('rotated this node\'s WireGuard key', { publicKey: this.key.publicKey, previous });
    await this.reconciler.runNow('key rotation');
    await this.cluster.register();
    return { publicKey: this.key.publicKey, previous };
  }

  async status(): Promise<Record<string, unknown> | undefined> {
    if (!this.enabled) return undefined;
    let device: Record<string, unknown> | undefined;
    try {
      const st = this.device ? await this.device.get() : undefined;
      const names = new Map(this.last?.peers.map((p) => [p.publicKey, p.node]));
      device = st && {
        listenPort: st.listenPort,
        peers: st.peers.map((p) => ({
          node: names.get(p.publicKey), publicKey: p.publicKey, endpoint: p.endpoint, allowedIPs: p.allowedIPs,
          lastHandshake: p.lastHandshakeMs ? new Date(p.lastHandshakeMs).toISOString() : undefined, rxBytes: p.rxBytes, txBytes: p.txBytes,
        })),
      };
    } catch (e) {
      device = { error: describeError(e) };
    }
    return {
      mode: 'wireguard',
      implementation: this.selection?.implementation,
      why: this.selection?.why,
      interface: WIREGUARD_DEVICE,
      ...(this.selection?.implementation === 'userspace' ? { pid: this.pid, socket: userspacePaths(this.runDir, WIREGUARD_DEVICE).socket } : {}),
      publicKey: this.key?.publicKey,
      ...this.settings(),
      podMTU: this.last?.podMTU,
      routes: this.last?.routes.length,
      peerErrors: this.last?.peerErrors.length ? this.last.peerErrors : undefined,
      heldPeers: this.held.length ? this.held.map((h) => ({ node: h.node, goneForSeconds: Math.round(h.goneForMs / 1000) })) : undefined,
      reconcile: this.reconciler.status(),
      lastActions: this.lastActions.length ? this.lastActions : undefined,
      device,
    };
  }
}

/** Alive and not a zombie (an orphaned wireguard-go may wait for a reaper that never comes). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    // why: read-only liveness probe: no /proc entry means the process is gone
    return false;
  }
}
