// This node's registration: its TwillNode, attached to a liveness lease so it vanishes when the
// agent dies. Peers withdraw the routes to a node whose TwillNode is gone, so a failed
// (re-)registration is never dropped: it is retried with backoff and shown until it works.
import { LeasedObjects } from '../../datastore/index.js';
import type { Store } from '../../datastore/store.js';
import type { BlockHolder } from '../../ipam/cluster/fixed.js';
import { TWILL_API, type ClusterConfig, type TwillNode } from '../../model/types.js';
import { describeError, isTwillError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import type { Problems } from '../problems.js';

export const CLUSTER_CONFIG_NAME = 'default';

export interface RegistrationDeps {
  store: Store;
  leaseTtlSeconds: number;
  log: Logger;
  problems: Problems;
  /** The record to write, built fresh for each attempt. */
  nodeObject: () => TwillNode;
  /** The configuration this node runs with (written back if the datastore lost it). */
  config: () => ClusterConfig['spec'];
  claims: () => BlockHolder;
  stopped: () => boolean;
  /** The datastore lost what this node wrote (the cluster configuration was missing). */
  onDataLost: (why: string) => void;
}

export class NodeRegistration {
  private leased: LeasedObjects | undefined;
  private registered = '';
  private registering: Promise<void> | undefined;
  private again = false;

  constructor(private readonly d: RegistrationDeps) {}

  /** Writes our TwillNode (attached to our liveness lease) when its content changed or `force`. */
  async register(force = false): Promise<void> {
    const obj = this.d.nodeObject();
    const text = JSON.stringify(obj.spec);
    if (!force && text === this.registered) return;
    this.leased ??= await LeasedObjects.open(this.d.store, {
      ttlSeconds: this.d.leaseTtlSeconds,
      onLost: () => this.d.log.warn('liveness lease lost; registering again'),
      onRegained: () => this.d.log.info('registered again under a new lease'),
    });
    await this.leased.put(obj);
    this.registered = text;
  }

  /** What we wrote is gone from the datastore: the next registration writes it whatever it holds. */
  forget(): void {
    this.registered = '';
  }

  /**
   * Registers (again) until it works. Each failed attempt is logged at error and shown in
   * `twill status` until one succeeds; attempts back off from 250 ms to 10 s.
   */
  inBackground(reason: string): void {
    this.again = true;
    if (this.registering) return;
    this.registering = (async () => {
      let delay = 250;
      while (this.again && !this.d.stopped()) {
        this.again = false;
        try {
          // The datastore may have lost what we wrote (restored from an old backup, or its data
          // gone): put back the cluster configuration and our blocks before registering.
          await this.ensureConfigStored();
          await this.d.claims().resync();
          const name = this.d.nodeObject().metadata.name;
          if (this.registered !== '' && !(await this.d.store.get('TwillNode', name))) {
            this.d.problems.event('node-record-deleted', 'warn', 'this node\'s TwillNode was missing from the datastore (deleted, its lease expired while cut off, or the data lost); writing it back', { reason });
            this.d.onDataLost('this node\'s TwillNode was missing');
          }
          await this.register(true);
          this.d.problems.clear('registration', 'node registered again');
        } catch (e) {
          this.again = true;
          this.d.problems.report('registration', 'error', 'cannot register this node in the datastore; peers may withdraw their routes to its pods; retrying', { reason, error: describeError(e), retryInMs: delay });
          await new Promise((r) => setTimeout(r, delay).unref());
          delay = Math.min(delay * 2, 10_000);
        }
      }
    })().finally(() => (this.registering = undefined));
  }

  /** The ClusterConfig vanished from the datastore: write back the one this node runs with. */
  private async ensureConfigStored(): Promise<void> {
    if (await this.d.store.get('ClusterConfig', CLUSTER_CONFIG_NAME)) return;
    const spec = this.d.config();
    const obj: ClusterConfig = { apiVersion: TWILL_API, kind: 'ClusterConfig', metadata: { name: CLUSTER_CONFIG_NAME }, spec };
    // Missing is the evidence, whoever writes it back first.
    this.d.onDataLost('the cluster configuration was missing');
    try {
      await this.d.store.create(obj);
      this.d.problems.report('cluster-config', 'warn', 'the cluster configuration was missing from the datastore (data lost?); wrote back the one this node runs with', { backend: spec.backend, pool: spec.pool });
    } catch (e) {
      if (!isTwillError(e, 'EXISTS')) throw e;
    }
  }

  /** Resolves when no registration is pending (tests). */
  async settled(): Promise<void> {
    while (this.registering) await this.registering;
  }

  /** Keeps the lease: a restarting agent must not make its peers withdraw routes to its pods. */
  async close(): Promise<void> {
    await this.leased?.close({ revoke: false });
  }
}
