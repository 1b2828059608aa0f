// Liveness through coordination.k8s.io/v1 Leases. Kubernetes has no server-side TTL, so the
// holder renews `spec.renewTime` every TTL/3 and every store that holds a lease also watches the
// lease namespace and reaps what it sees expire: it deletes the Lease (precondition: unchanged
// since it saw it, so a late renewal wins) and then every object labelled with the lease's name.
// Nothing waits for kube-controller-manager's garbage collector (cluster-scoped objects cannot
// even name a namespaced Lease as their owner). Expiry is judged by the reaper's own clock from
// when it last saw the lease change, not by the holder's renewTime: node clocks may disagree.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { TwillError, describeError, isTwillError } from '../../util/errors.js';
import { rootLogger } from '../../util/log.js';
import { LeaseLife } from '../handles.js';
import type { Lease } from '../store.js';
import type { KubeClient } from './client.js';
import { LEASE_LABEL, TWILL_KINDS, collectionPath } from './resources.js';
import { KubeWatch } from './watch.js';

const log = rootLogger.child('datastore/kubernetes');
const LEASES = (ns: string): string => `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(ns)}/leases`;
const MANAGED = 'app.kubernetes.io/managed-by=twill';

type Obj = Record<string, unknown>;

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */

// Durations the agent measures itself (renewal deadlines, how long a lease has stood unchanged)
// run on the monotonic clock: a wall-clock step (NTP, a wrong RTC) must neither make every live
// lease look expired (the reaper would delete them all, and every node's TwillNode with them)
// nor hide a lost one. Only renewTime, an API field, is wall-clock time.
const monoNow = (): number => performance.now();
export function microTime(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Deletes every Twill object attached to lease `name`, then nothing else. */
export async function deleteAttached(client: KubeClient, name: string): Promise<void> {
  const q = `labelSelector=${encodeURIComponent(`${LEASE_LABEL}=${name}`)}`;
  for (const kind of TWILL_KINDS) {
    await client.request(`${collectionPath(kind)}?${q}`, { method: 'DELETE', what: `deleting the objects of lease ${name}` });
  }
}

/** Deletes a Lease (if still at `resourceVersion` when given) and its objects. */
export async function revokeLease(client: KubeClient, namespace: string, name: string, resourceVersion?: string): Promise<'revoked' | 'changed'> {
  const body = resourceVersion === undefined ? undefined : { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion } };
  try {
    await client.request(`${LEASES(namespace)}/${name}`, { method: 'DELETE', body, what: `deleting lease ${namespace}/${name}` });
  } catch (e) {
    if (isTwillError(e, 'CONFLICT')) return 'changed';
    if (!isTwillError(e, 'NOT_FOUND')) throw e;
  }
  await deleteAttached(client, name);
  return 'revoked';
}

export class KubeLease implements Lease {
  private readonly life: LeaseLife;
  private timer: NodeJS.Timeout | undefined;
  private lastRenewed = monoNow();
  private renewing = false;

  private constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    readonly id: string,
    readonly ttlSeconds: number,
  ) {
    this.life = new LeaseLife(id);
    this.timer = setInterval(() => void this.renew(), Math.max(200, (ttlSeconds * 1000) / 3));
    this.timer.unref();
  }

  static async grant(client: KubeClient, namespace: string, ttlSeconds: number): Promise<KubeLease> {
    const id = `twill-${randomBytes(8).toString('hex')}`;
    const now = microTime();
    const body = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: id, namespace, labels: { 'app.kubernetes.io/managed-by': 'twill' } },
      spec: { holderIdentity: `${hostname()}/${process.pid}`, leaseDurationSeconds: ttlSeconds, acquireTime: now, renewTime: now },
    };
    try {
      await client.request(LEASES(namespace), { method: 'POST', body, what: `creating lease ${namespace}/${id}` });
    } catch (e) {
      if (isTwillError(e, 'NOT_FOUND')) throw new TwillError('DATASTORE', `cannot create a lease: namespace ${namespace} does not exist; apply deploy/twill.yaml (or pass the namespace that holds Twill's leases)`, { cause: e });
      throw e;
    }
    return new KubeLease(client, namespace, id, ttlSeconds);
  }

  get held(): LeaseLife {
    return this.life;
  }

  onLost(cb: () => void): void {
    this.life.onLost(cb);
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async renew(): Promise<void> {
    if (!this.life.alive || this.renewing) return;
    // A slow answer still counts as long as it comes before the TTL runs out: the request may
    // take all the time that is left (a loaded apiserver is not a lost lease).
    const left = this.lastRenewed + this.ttlSeconds * 1000 - monoNow();
    this.renewing = true;
    try {
      await this.client.request(`${LEASES(this.namespace)}/${this.id}`, {
        method: 'PATCH',
        contentType: 'application/merge-patch+json',
        body: { spec: { renewTime: microTime() } },
        timeoutMs: Math.max(200, left),
        what: `renewing lease ${this.namespace}/${this.id}`,
      });
      this.lastRenewed = monoNow();
    } catch (e) {
      if (!this.life.alive) return;
      if (isTwillError(e, 'NOT_FOUND')) return this.lose('revoked or expired elsewhere');
      if (monoNow() - this.lastRenewed >= this.ttlSeconds * 1000) return this.lose(`not renewed for ${this.ttlSeconds}s: ${describeError(e)}`);
      log.debug('lease renewal failed; retrying', { lease: this.id, error: describeError(e) });
    } finally {
      this.renewing = false;
    }
  }

  private lose(why: string): void {
    log.warn('lease lost', { lease: this.id, why });
    this.stopTimer();
    this.life.end('lost');
    this.life.fireLost();
  }

  async revoke(): Promise<void> {
    this.stopTimer();
    this.life.end('revoked');
    await revokeLease(this.client, this.namespace, this.id);
  }

  release(): void {
    this.stopTimer();
    this.life.end('released');
  }
}

interface Seen {
  rv: string;
  /** Local time after which the lease is expired unless it changes again. */
  expiresAt: number;
}

/** Watches the lease namespace and reaps expired leases (see the file comment). */
export class LeaseReaper {
  private readonly seen = new Map<string, Seen>();
  private watch: KubeWatch<Obj> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private sweeping: Promise<void> | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
  ) {}

  async start(): Promise<void> {
    const revision = await this.resync();
    this.watch = new KubeWatch<Obj>(
      { client: this.client, path: LEASES(this.namespace), what: `watching leases in ${this.namespace}`, decode: (o) => o, list: () => this.listLeases(true), labelSelector: MANAGED },
      {
        fromRevision: revision,
        onEvent: (ev) => {
          if (ev.type === 'RESYNC') this.replace(ev.items);
          else if (ev.type === 'DELETED') this.seen.delete(nameOf(ev.object));
          else this.observe(ev.object);
          this.schedule();
        },
      },
    );
  }

  stop(): void {
    this.stopped = true;
    this.watch?.stop();
    if (this.timer) clearTimeout(this.timer);
  }

  private async resync(): Promise<string> {
    const { items, revision } = await this.listLeases(true);
    this.replace(items);
    this.schedule();
    return revision;
  }

  /** The leases; with `sweep`, also (in the background, off the start-up path) orphans. */
  private async listLeases(sweep: boolean): Promise<{ items: Obj[]; revision: string }> {
    const list = await this.client.request<{ items: Obj[]; metadata: { resourceVersion: string } }>(`${LEASES(this.namespace)}?labelSelector=${encodeURIComponent(MANAGED)}`, { what: `listing leases in ${this.namespace}` });
    if (sweep && !this.sweeping) {
      this.sweeping = this.sweepOrphans()
        .catch((e: unknown) => log.warn('cannot sweep the objects of vanished leases yet', { error: describeError(e) }))
        .finally(() => (this.sweeping = undefined));
    }
    return { items: list.items, revision: list.metadata.resourceVersion };
  }

  /**
   * Deletes objects attached to leases that no longer exist (a reaper that died between deleting
   * a Lease and its objects). Objects are listed first: an object attached to a lease implies the
   * lease existed before it, so a lease missing from the later list is gone for good.
   */
  private async sweepOrphans(): Promise<void> {
    const attached = new Set<string>();
    for (const kind of TWILL_KINDS) {
      const l = await this.client.request<{ items: Obj[] }>(`${collectionPath(kind)}?labelSelector=${encodeURIComponent(LEASE_LABEL)}`, { what: `listing objects attached to leases` });
      for (const o of l.items) attached.add(((o['metadata'] as Obj)['labels'] as Record<string, string>)[LEASE_LABEL]!);
    }
    const live = new Set((await this.listLeases(false)).items.map(nameOf));
    for (const name of attached) {
      if (this.stopped || live.has(name)) continue;
      log.info('deleting objects of a lease that no longer exists', { lease: name });
      await deleteAttached(this.client, name);
    }
  }

  /** The background sweep, for tests that wait for it. */
  swept(): Promise<void> {
    return this.sweeping ?? Promise.resolve();
  }

  private replace(items: Obj[]): void {
    const names = new Set(items.map(nameOf));
    for (const n of [...this.seen.keys()]) if (!names.has(n)) this.seen.delete(n);
    for (const o of items) this.observe(o);
  }

  private observe(o: Obj): void {
    const name = nameOf(o);
    const rv = String((o['metadata'] as Obj)['resourceVersion']);
    if (this.seen.get(name)?.rv === rv) return;
    const ttl = Number((o['spec'] as Obj | undefined)?.['leaseDurationSeconds'] ?? 0);
    this.seen.set(name, { rv, expiresAt: monoNow() + Math.max(1, ttl) * 1000 });
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    let next = Infinity;
    for (const s of this.seen.values()) next = Math.min(next, s.expiresAt);
    if (next === Infinity) return;
    this.timer = setTimeout(() => void this.reap(), Math.max(0, next - monoNow()) + 50);
    this.timer.unref();
  }

  private async reap(): Promise<void> {
    const now = monoNow();
    let retry = false;
    for (const [name, s] of [...this.seen]) {
      if (s.expiresAt > now || this.stopped) continue;
      try {
        const r = await revokeLease(this.client, this.namespace, name, s.rv);
        if (r === 'revoked') {
          log.info('lease expired; deleted it and its objects', { lease: name });
          if (this.seen.get(name)?.rv === s.rv) this.seen.delete(name);
        } else if (this.seen.get(name)?.rv === s.rv) {
          // Renewed after all; the watch brings the new version (look again in a second if not).
          s.expiresAt = now + 1000;
        }
      } catch (e) {
        // why: retried every second; a reap fails only while the apiserver does (an outage that
        // is loud already), and until it works a dead node's objects merely linger
        retry = true;
        log.debug('cannot reap an expired lease yet', { lease: name, error: describeError(e) });
      }
    }
    if (retry && !this.stopped) {
      this.timer = setTimeout(() => void this.reap(), 1000);
      this.timer.unref();
    } else this.schedule();
  }
}

function nameOf(o: Obj): string {
  return String((o['metadata'] as Obj)['name']);
}
