// The agent's life as a DaemonSet pod, around Agent.start()/stop(): health probes from the start,
// the conflist only once the agent can serve ADD (the kubelet keeps the node NotReady until then),
// and on SIGTERM either nothing (restart, rolling update: the datapath stays for the next agent) or
// a full removal of what Twill made on the node (uninstall: the DaemonSet or namespace is going).
import type { Server } from 'node:http';
import { inClusterAccess, kubeconfigAccess, type ClusterAccess } from '../datastore/kubernetes/index.js';
import { teardownNode } from '../dataplane/teardown/index.js';
import { describeError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { Agent } from './agent.js';
import { removeConflist, writeConflist } from './cni-files.js';
import type { AgentConfig } from './config.js';
import { startHealthServer } from './health.js';
import { OwnerWatch } from './owner/owner-watch.js';
import type { ExitMode } from './owner/verdict.js';

export class NodeLifecycle {
  private agent: Agent | undefined;
  private stopping = false;
  private health: Server | undefined;
  private owner: OwnerWatch | undefined;

  constructor(
    private readonly cfg: AgentConfig,
    private readonly log: Logger,
  ) {}

  /** The datastore's way to the API: --kubeconfig, else the pod's ServiceAccount (at apiServer when set). */
  private access(): ClusterAccess {
    return this.cfg.kubeconfig !== undefined ? kubeconfigAccess(this.cfg.kubeconfig) : inClusterAccess(process.env, undefined, { server: this.cfg.apiServer });
  }

  /** Before Agent.start(): probes answer (live, not ready) and the owner watches open. */
  async begin(): Promise<void> {
    if (this.cfg.healthPort !== undefined) {
      this.health = await startHealthServer(this.cfg.healthPort, { live: () => true, ready: () => this.ready() });
    }
    if (this.cfg.ownerDaemonSet !== undefined) {
      const [namespace = '', daemonSet = ''] = this.cfg.ownerDaemonSet.split('/');
      this.owner = new OwnerWatch({ namespace, daemonSet }, this.access(), this.log.child('owner'));
      this.owner.start();
    }
  }

  private ready(): boolean {
    if (this.stopping || !this.agent) return false;
    return this.agent.cluster ? this.agent.cluster.datastoreUp : true;
  }

  /**
   * After Agent.start(): once the agent is ready (in cluster mode: its datastore answers, so it can
   * claim address blocks), the conflist goes in and the node's runtime may call twill-cni.
   */
  async started(agent: Agent): Promise<void> {
    this.agent = agent;
    const dir = this.cfg.cniConfDir;
    if (dir === undefined) return;
    if (!this.ready()) this.log.info('waiting until the agent is ready before writing the CNI config', { dir });
    while (!this.ready()) {
      if (this.stopping) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    const wrote = await writeConflist(dir, this.cfg.socket);
    this.log.info(wrote ? 'CNI config written: the runtime may call twill-cni' : 'CNI config already in place', { dir });
  }

  /** On SIGTERM/SIGINT: stop the agent; on uninstall, also remove Twill from the node. */
  async stop(agent: Agent | undefined): Promise<ExitMode> {
    this.stopping = true;
    const mode: ExitMode = this.owner ? await this.owner.exitMode() : 'keep';
    this.log.info(mode === 'uninstall' ? 'Twill is being uninstalled: removing its CNI config, links, routes and nftables tables' : 'stopping; the datapath stays for the next agent', { mode });
    if (mode === 'uninstall' && this.cfg.cniConfDir !== undefined) {
      // First, so the runtime stops sending ADDs to an agent that is going away.
      await removeConflist(this.cfg.cniConfDir).catch((e: unknown) => this.log.error('cannot remove the CNI config', { error: describeError(e) }));
    }
    await agent?.stop().catch((e: unknown) => this.log.error('agent stop failed', { error: describeError(e) }));
    if (mode === 'uninstall') {
      try {
        this.log.info('node cleaned', { ...(await teardownNode()) });
      } catch (e) {
        this.log.error('node cleanup failed; remove what is left by hand (see docs/install.md)', { error: describeError(e) });
      }
    }
    this.owner?.stop();
    await new Promise<void>((r) => (this.health ? this.health.close(() => r()) : r()));
    return mode;
  }
}
