// A running lab: its state, its etcd, its nodes (namespace + agent), and the runtime that wires
// pods on each node by calling twill-cni as containerd would.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { agentRequest } from '../cli/client.js';
import { openStore } from '../datastore/index.js';
import type { Store } from '../datastore/store.js';
import { deleteNetns, listNetns, netnsExists } from '../dataplane/kernel/netns.js';
import { TWILL_API, type BackendName, type ClusterConfig, type EncryptionMode } from '../model/types.js';
import { stopUserspace } from '../dataplane/kernel/wireguard/index.js';
import { DEFAULT_WIREGUARD_PORT, WIREGUARD_DEVICE } from '../dataplane/kernel/names.js';
import { TwillError, describeError } from '../util/errors.js';
import { twillCniDir } from '../util/paths.js';
import { CniRuntime, type ConfList } from './cni-runtime.js';
import { labEtcdRunning, startLabEtcd, stopLabEtcd } from './etcd.js';
import { agentSocket, startNodeAgent, stopNodeAgent } from './node-agent.js';
import { isAlive, readPid, stopPidFile, waitFor } from './processes.js';
import { labDir, loadLab, nodeDir, nodeNetns, podDir, saveLab, underlayNetns, validateLabName, type LabNode, type LabState } from './state.js';
import { LabKubelet } from './kubelet.js';
import { createNodeNetns, createUnderlay, deleteNodeNetns, nodeUnderlayIp } from './topology.js';
import { readdir } from 'node:fs/promises';
import { downKubeParts } from './kubernetes/cluster.js';

export interface LabUpOptions {
  name: string;
  nodes: number;
  backend: BackendName;
  pool: string;
  directRouting: boolean;
  leaseTtlSeconds: number;
  blockGraceSeconds: number;
  /** Extra `twill agent` flags for every node (e.g. --no-flow-records, --flow-ring-size 1000). */
  agentFlags?: string[];
  encryption?: EncryptionMode;
}

export const LAB_DEFAULTS: Omit<LabUpOptions, 'name'> = {
  nodes: 3,
  backend: 'vxlan',
  pool: '10.244.0.0/16',
  directRouting: false,
  leaseTtlSeconds: 5,
  blockGraceSeconds: 30,
  encryption: 'none',
};

export type Print = (line: string) => void;

export interface AgentStatus {
  node: string;
  mode: string;
  mtu: number;
  cluster?: { datastore: { connected: boolean }; blocks: string[]; peers: { name: string }[] };
  routing?: { runs: number; lastChanges?: number; lastError?: string; backend: string; routes?: number; applied?: { backend: string; peers: number; peersOnBackend: number } };
  encryption?: {
    implementation?: string;
    pid?: number;
    port: number;
    publicKey?: string;
    reconcile: { lastError?: string };
    peerErrors?: { peer: string; reason: string }[];
    /** Peers kept on the device although their TwillNode is gone (see dataplane/encryption/hold.ts). */
    heldPeers?: { node: string; goneForSeconds: number }[];
    device?: { peers?: { node?: string; publicKey: string; lastHandshake?: string; rxBytes: number; txBytes: number }[] };
  };
  attachments: { id: string; ips: string[]; pod?: string }[];
}

export class Lab {
  private storeP: Promise<Store> | undefined;

  private constructor(public state: LabState) {}

  static async open(state: LabState): Promise<Lab> {
    return new Lab(state);
  }

  get name(): string {
    return this.state.name;
  }

  /** A datastore client for the CLI (loopback). */
  store(): Promise<Store> {
    const p = this.storeP ?? openStore(`etcd:${this.state.etcd.clientUrl}`);
    this.storeP = p;
    return p;
  }

  async close(): Promise<void> {
    if (this.storeP) await (await this.storeP).close();
    this.storeP = undefined;
  }

  node(name: string): LabNode {
    const n = this.state.nodes.find((x) => x.name === name);
    if (!n) throw new TwillError('NOT_FOUND', `lab ${this.name} has no node "${name}" (nodes: ${this.state.nodes.map((x) => x.name).join(', ')})`);
    return n;
  }

  socket(node: string): string {
    return agentSocket(nodeDir(this.name, node));
  }

  conflist(node: string): ConfList {
    return { cniVersion: '1.1.0', name: 'twill', plugins: [{ type: 'twill-cni', agentSocket: this.socket(node) }] };
  }

  runtime(node: string): CniRuntime {
    const n = this.node(node);
    return new CniRuntime({ path: [twillCniDir(), '/usr/lib/cni'], nodeNetns: n.netns, cacheDir: join(nodeDir(this.name, node), 'cni-cache') });
  }

  agentStatus(node: string, timeoutMs = 3000): Promise<AgentStatus> {
    return agentRequest<AgentStatus>(this.socket(node), 'GET', '/v1/status', undefined, timeoutMs);
  }

  // ---- bring-up ----

  static async up(o: LabUpOptions, print: Print): Promise<Lab> {
    validateLabName(o.name);
    const existing = await loadLab(o.name);
    const state: LabState = existing ?? {
      name: o.name,
      createdAt: new Date().toISOString(),
      pool: o.pool,
      backend: o.backend,
      directRouting: o.directRouting,
      encryption: o.encryption ?? 'none',
      etcd: { clientUrl: '', socket: '' },
      underlayNetns: underlayNetns(o.name),
      nodes: [],
      leaseTtlSeconds: o.leaseTtlSeconds,
      blockGraceSeconds: o.blockGraceSeconds,
      ...(o.agentFlags?.length ? { agentFlags: o.agentFlags } : {}),
    };
    if (existing) print(`lab ${o.name} exists; checking it (${existing.nodes.length} nodes)`);
    const switchTo = existing && (existing.backend !== o.backend || existing.directRouting !== o.directRouting);
    const lab = new Lab(state);
    await mkdir(labDir(o.name), { recursive: true });
    const etcdDir = join(labDir(o.name), 'etcd');
    if (!(await labEtcdRunning(etcdDir))) {
      const e = await startLabEtcd(etcdDir, existing?.etcd.clientUrl);
      state.etcd = { clientUrl: e.clientUrl, socket: e.socket, pid: e.pid };
      print(`  etcd      pid ${e.pid}, ${e.clientUrl} and unix://${e.socket}`);
    }
    await saveLab(state);
    if (!existing) await lab.writeClusterConfig();
    await createUnderlay(state.underlayNetns);
    for (let i = 1; i <= Math.max(o.nodes, state.nodes.length); i++) {
      const name = `node-${i}`;
      if (!state.nodes.some((n) => n.name === name)) state.nodes.push({ name, netns: nodeNetns(o.name, name), underlayIP: nodeUnderlayIp(i) });
    }
    await saveLab(state);
    await Promise.all(state.nodes.map((n) => lab.ensureNode(n, print)));
    if (switchTo) await lab.setBackend(o.backend, o.directRouting, print);
    if (existing && o.encryption !== undefined && (existing.encryption ?? 'none') !== o.encryption) await lab.setEncryption(o.encryption, print);
    await lab.waitConverged();
    if ((state.encryption ?? 'none') === 'wireguard') await lab.waitEncrypted(true);
    return lab;
  }

  /** Switches the backend of the running lab: agents reconverge, pods keep running. */
  async setBackend(backend: BackendName, directRouting: boolean, print: Print): Promise<void> {
    const store = await this.store();
    const cur = await store.get('ClusterConfig', 'default');
    if (!cur) throw new TwillError('NOT_FOUND', `lab ${this.name} has no cluster configuration in its datastore`);
    const next: ClusterConfig = { ...cur, spec: { ...cur.spec, backend, vxlan: { ...cur.spec.vxlan, directRouting } } };
    await store.update(next);
    this.state.backend = backend;
    this.state.directRouting = directRouting;
    await saveLab(this.state);
    print(`lab ${this.name}: backend ${cur.spec.backend}${cur.spec.vxlan.directRouting ? ' (direct routing)' : ''} → ${backend}${directRouting ? ' (direct routing)' : ''}`);
    // Done when every agent has applied the new backend with every peer advertising it too
    // (until then a node may still reach a peer the old way, on purpose).
    const want = this.state.nodes.length - 1;
    await waitFor(`lab ${this.name} on ${backend}`, async () => {
      for (const n of this.state.nodes) {
        const a = (await this.agentStatus(n.name, 1000)).routing?.applied;
        if (a?.backend !== backend || a.peers !== want || a.peersOnBackend !== want) return false;
      }
      return true;
    }, 30_000, 100);
  }

  /** Switches encryption of the running lab on or off: agents reconverge, pods keep running. */
  async setEncryption(mode: EncryptionMode, print: Print): Promise<void> {
    const store = await this.store();
    const cur = await store.get('ClusterConfig', 'default');
    if (!cur) throw new TwillError('NOT_FOUND', `lab ${this.name} has no cluster configuration in its datastore`);
    const spec = { ...cur.spec, encryption: mode, wireguard: cur.spec.wireguard ?? { port: DEFAULT_WIREGUARD_PORT, strict: true, nodeTraffic: false } };
    await store.update({ ...cur, spec });
    this.state.encryption = mode;
    await saveLab(this.state);
    print(`lab ${this.name}: encryption ${cur.spec.encryption ?? 'none'} → ${mode}`);
    await this.waitEncrypted(mode === 'wireguard');
  }

  /** Every node's tunnel has every other node as a configured peer (or, when off, none has a device). */
  async waitEncrypted(on = (this.state.encryption ?? 'none') === 'wireguard', timeoutMs = 30_000): Promise<void> {
    await waitFor(`lab ${this.name} encryption ${on ? 'on' : 'off'}`, async () => {
      for (const n of this.state.nodes) {
        const e = (await this.agentStatus(n.name, 2000)).encryption;
        if (!on) { if (e) return false; continue; }
        if (!e || e.reconcile.lastError || e.peerErrors?.length) return false;
        // Every other lab node is a peer with a record (a removed node may still be held a while).
        const peers = new Set(e.device?.peers?.map((p) => p.node));
        const held = new Set(e.heldPeers?.map((h) => h.node));
        if (this.state.nodes.some((o) => o.name !== n.name && (!peers.has(o.name) || held.has(o.name)))) return false;
      }
      return true;
    }, timeoutMs, 100);
  }

  private async writeClusterConfig(): Promise<void> {
    const store = await this.store();
    const cfg: ClusterConfig = {
      apiVersion: TWILL_API,
      kind: 'ClusterConfig',
      metadata: { name: 'default' },
      spec: {
        pool: this.state.pool,
        blockPrefix: 26,
        backend: this.state.backend,
        vxlan: { vni: 4096, port: 4789, directRouting: this.state.directRouting },
        natOutgoing: true,
        blockGraceSeconds: this.state.blockGraceSeconds,
        ...(this.state.encryption === 'wireguard' ? { encryption: 'wireguard' as const, wireguard: { port: DEFAULT_WIREGUARD_PORT, strict: true, nodeTraffic: false } } : {}),
      },
    };
    await store.put(cfg);
  }

  agentArgs(): string[] {
    return [
      '--datastore', `etcd:unix://${this.state.etcd.socket}`,
      '--underlay-iface', 'eth0',
      '--lease-ttl', String(this.state.leaseTtlSeconds),
      '--block-grace', String(this.state.blockGraceSeconds),
      ...(this.state.agentFlags ?? []),
    ];
  }

  /** Namespace, wires and a running agent for one node. Idempotent. */
  async ensureNode(n: LabNode, print: Print): Promise<void> {
    await createNodeNetns(this.state.underlayNetns, n.name, n.netns, n.underlayIP);
    const dir = nodeDir(this.name, n.name);
    await mkdir(dir, { recursive: true });
    const pid = await readPid(join(dir, 'agent.pid'));
    if (pid !== undefined && isAlive(pid)) return;
    const started = await startNodeAgent({ nodeName: n.name, netns: n.netns, dir, args: this.agentArgs() });
    print(`  ${n.name.padEnd(9)} ${n.underlayIP.padEnd(12)} netns ${n.netns}, agent pid ${started}`);
  }

  /** `nodeFlags`: flags for node itself, this start only (a bench's --cpu-prof, say). */
  async startAgent(node: string, nodeFlags?: string[]): Promise<number> {
    const n = this.node(node);
    return startNodeAgent({ nodeName: n.name, netns: n.netns, dir: nodeDir(this.name, n.name), args: this.agentArgs(), ...(nodeFlags ? { nodeFlags } : {}) });
  }

  stopAgent(node: string, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    return stopNodeAgent(nodeDir(this.name, this.node(node).name), signal);
  }

  /** Adds node-(N+1) to a running lab; returns its name. */
  async addNode(print: Print): Promise<string> {
    const i = Math.max(0, ...this.state.nodes.map((n) => Number(n.name.split('-')[1]))) + 1;
    const n: LabNode = { name: `node-${i}`, netns: nodeNetns(this.name, `node-${i}`), underlayIP: nodeUnderlayIp(i) };
    this.state.nodes.push(n);
    await saveLab(this.state);
    await this.ensureNode(n, print);
    return n.name;
  }

  /** Stops a node's agent and removes its namespace (its pods' sandboxes go with it). */
  async removeNode(node: string): Promise<void> {
    const n = this.node(node);
    await this.stopAgent(node, 'SIGKILL');
    // A node without wireguard-go (kernel WireGuard, or none) has nothing to stop.
    // why: harmless if it fails: the node's namespace, its only link, goes below.
    await stopUserspace(join(nodeDir(this.name, node), 'run'), WIREGUARD_DEVICE).catch(() => undefined);
    for (const r of (await new LabKubelet(this).records()).filter((r) => r.node === node)) {
      await stopPidFile(join(podDir(this.name, r.namespace, r.name), 'server.pid'), 500);
    }
    await deleteNodeNetns(this.state.underlayNetns, n.name, n.netns);
    this.state.nodes = this.state.nodes.filter((x) => x.name !== node);
    await saveLab(this.state);
    await rm(nodeDir(this.name, node), { recursive: true, force: true });
  }

  /**
   * Every agent answers, is connected to the datastore, and its last routing run was computed
   * with every other node as a peer, all on the cluster's backend.
   */
  async waitConverged(timeoutMs = 30_000): Promise<void> {
    const want = this.state.nodes.length - 1;
    await waitFor(`lab ${this.name} converged`, async () => {
      for (const n of this.state.nodes) {
        const st = await this.agentStatus(n.name, 1000);
        const a = st.routing?.applied;
        if (!st.cluster?.datastore.connected || st.routing?.lastError || a?.peers !== want || a.peersOnBackend !== want) return false;
      }
      return true;
    }, timeoutMs, 100);
  }

  // ---- the datastore, for resilience experiments ----

  async stopEtcd(): Promise<void> {
    await this.close();
    await stopLabEtcd(join(labDir(this.name), 'etcd'));
  }

  async startEtcd(): Promise<void> {
    const e = await startLabEtcd(join(labDir(this.name), 'etcd'), this.state.etcd.clientUrl);
    this.state.etcd.pid = e.pid;
    await saveLab(this.state);
  }

  // ---- tear-down ----

  static async down(name: string, print: Print): Promise<void> {
    validateLabName(name);
    const dir = labDir(name);
    const state = await loadLab(name);
    // Pod servers first (they live in namespaces about to vanish), then agents, then etcd.
    const podsDir = join(dir, 'pods');
    // why: no pods folder, no pods
    for (const p of await readdir(podsDir).catch(() => [] as string[])) await stopPidFile(join(podsDir, p, 'server.pid'), 500);
    const nodesDir = join(dir, 'nodes');
    // why: no nodes folder, no nodes
    for (const n of await readdir(nodesDir).catch(() => [] as string[])) {
      await stopNodeAgent(join(nodesDir, n), 'SIGTERM').catch((e: unknown) => print(`  could not stop the agent of ${n}: ${describeError(e)}`));
      // wireguard-go outlives its agent on purpose; the lab owns it, so the lab ends it.
      await stopUserspace(join(nodesDir, n, 'run'), WIREGUARD_DEVICE).catch((e: unknown) => print(`  could not stop wireguard-go of ${n}: ${describeError(e)}`));
    }
    // A Kubernetes lab's kubelets, containerds, containers, mounts, cgroups and control plane.
    await downKubeParts(name);
    await stopLabEtcd(join(dir, 'etcd'));
    let removed = 0;
    for (const ns of await listNetns()) {
      if (ns.startsWith(`twl-${name}-`)) {
        await deleteNetns(ns).catch((e: unknown) => print(`  could not delete namespace ${ns}: ${describeError(e)}`));
        removed++;
      }
    }
    await rm(dir, { recursive: true, force: true });
    if (state || removed) print(`lab ${name}: removed ${removed} namespaces, its agents, pods, etcd and ${dir}`);
    else print(`lab ${name}: nothing to remove`);
  }

  /** True when the node's namespace exists (for `lab get nodes`). */
  nodePresent(node: string): boolean {
    return netnsExists(this.node(node).netns);
  }
}
