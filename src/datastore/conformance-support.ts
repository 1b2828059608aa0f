// The conformance suite's contract with a backend under test, fixtures and a watch recorder.
import assert from 'node:assert/strict';
import { TWILL_API, type IPAMBlock, type Kind, type Pod, type TwillNode } from '../model/types.js';
import { isTwillError, type ErrorCode } from '../util/errors.js';
import type { Store, WatchEvent } from './store.js';

/** What a backend under test offers the suite (see runStoreConformance). */
export interface ConformanceBackend {
  /** A new client over this backend's key space (another agent). */
  connect(): Promise<Store>;
  /** Lease TTL the suite uses (keep it short for real servers). */
  readonly ttlSeconds: number;
  /** Lets `ms` of lease time pass: a manual clock jumps, a real one sleeps. */
  elapse(ms: number): Promise<void>;
  /** Discards event history up to the current revision. */
  compact(): Promise<void>;
  /** Takes the server away for `ms` of lease time, then brings it back with its data. */
  outage(ms: number): Promise<void>;
  /** Revokes lease `id` behind its holder's back (an operator, another tool). */
  revokeElsewhere(id: string): Promise<void>;
  /**
   * Whether a lease expiry deletes all its objects in one revision (etcd, memory). Kubernetes
   * deletes them one by one (false): watchers still see every DELETED, at several revisions.
   */
  readonly atomicLeaseExpiry?: boolean;
  /** Frees the backend; the suite closes the clients it connected. */
  close(): Promise<void>;
}

/** One case: gets the backend and a way to connect clients (closed for it afterwards). */
export type Case = (b: ConformanceBackend, connect: () => Promise<Store>) => Promise<void>;

export function pod(namespace: string, name: string, labels: Record<string, string> = {}): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { namespace, name, labels }, spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] } };
}

export function node(name: string, blocks: string[] = []): TwillNode {
  return {
    apiVersion: TWILL_API,
    kind: 'TwillNode',
    metadata: { name },
    spec: { underlayIP: '192.0.2.10', underlayCIDR: '192.0.2.0/24', backend: 'vxlan', blocks },
  };
}

export function block(name: string, holder: string): IPAMBlock {
  return {
    apiVersion: TWILL_API,
    kind: 'IPAMBlock',
    metadata: { name },
    spec: { cidr: '10.244.0.0/26', node: holder, claimedAt: '2024-01-01T00:00:00Z' },
  };
}

/** Asserts `p` rejects with a TwillError carrying `code`. */
export async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isTwillError(e, code), `expected TwillError ${code}, got ${e instanceof Error ? `${(e as { code?: string }).code}: ${e.message}` : String(e)}`);
    return true;
  });
}

export function rv(o: { metadata: { resourceVersion?: string } }): bigint {
  assert.ok(o.metadata.resourceVersion, 'object has a resourceVersion');
  return BigInt(o.metadata.resourceVersion);
}

/** Waits (in real time, bounded) until `pred` holds, polling every 10 ms. */
export async function eventually(pred: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A watch that records everything it is told. */
export class Recorder<K extends Kind> {
  readonly events: WatchEvent<K>[] = [];
  readonly statuses: boolean[] = [];
  private readonly w;

  constructor(store: Store, kind: K, fromRevision: string) {
    this.w = store.watch(kind, {
      fromRevision,
      onEvent: (ev) => this.events.push(ev),
      onStatus: (s) => this.statuses.push(s.connected),
    });
  }

  stop(): void {
    this.w.stop();
  }

  /** "ADDED n1" lines, RESYNC as "RESYNC a,b". */
  summary(): string[] {
    return this.events.map((ev) =>
      ev.type === 'RESYNC' ? `RESYNC ${ev.items.map((o) => o.metadata.name).join(',')}` : `${ev.type} ${ev.object.metadata.name}`,
    );
  }

  async waitFor(n: number, timeoutMs = 5_000): Promise<string[]> {
    await eventually(() => this.events.length >= n, timeoutMs, () => `${n} events, have ${JSON.stringify(this.summary())}`);
    return this.summary();
  }

  revisions(): bigint[] {
    return this.events.map((ev) => BigInt(ev.revision));
  }
}

export function assertIncreasing(revs: bigint[], strict = true): void {
  for (let i = 1; i < revs.length; i++) {
    const ok = strict ? revs[i]! > revs[i - 1]! : revs[i]! >= revs[i - 1]!;
    assert.ok(ok, `revisions must increase: ${revs.join(', ')}`);
  }
}

/** Retries `fn` (bounded, real time) while the backend settles after an outage. */
export async function retrying<T>(fn: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
