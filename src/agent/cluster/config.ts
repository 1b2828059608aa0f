// The cluster configuration (one ClusterConfig, `default`): read from the datastore, created from
// the agent's flags by the first agent, cached on disk so that a restart during a datastore outage
// keeps the cluster's settings instead of falling back to flags, and watched for changes.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Store, Watch } from '../../datastore/store.js';
import { TWILL_API, type ClusterConfig } from '../../model/types.js';
import { describeError, isTwillError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';
import { CLUSTER_CONFIG_NAME } from './registration.js';

export type ClusterSpec = ClusterConfig['spec'];

export class ClusterConfigSource {
  constructor(
    private readonly store: Store,
    private readonly stateDir: string,
    /** Used when the datastore holds no ClusterConfig yet (the first agent writes it). */
    private readonly bootstrap: ClusterSpec,
    private readonly log: Logger,
  ) {}

  private get file(): string {
    return join(this.stateDir, 'cluster-config.json');
  }

  /** The datastore's configuration (created from the flags if absent); unreachable: the cache, then the flags. */
  async load(): Promise<ClusterSpec> {
    try {
      const stored = await this.store.get('ClusterConfig', CLUSTER_CONFIG_NAME);
      const spec = stored?.spec ?? (await this.create());
      await this.cache(spec);
      return spec;
    } catch (e) {
      try {
        const cached = JSON.parse(await readFile(this.file, 'utf8')) as ClusterSpec;
        this.log.warn('datastore unreachable; using the cached cluster configuration', { error: describeError(e) });
        return cached;
      } catch {
        this.log.warn('datastore unreachable and no cached cluster configuration; using flags', { error: describeError(e) });
        return this.bootstrap;
      }
    }
  }

  private async create(): Promise<ClusterSpec> {
    const obj: ClusterConfig = { apiVersion: TWILL_API, kind: 'ClusterConfig', metadata: { name: CLUSTER_CONFIG_NAME }, spec: this.bootstrap };
    try {
      return (await this.store.create(obj)).spec;
    } catch (e) {
      if (!isTwillError(e, 'EXISTS')) throw e;
      return (await this.store.get('ClusterConfig', CLUSTER_CONFIG_NAME))!.spec;
    }
  }

  /** Written atomically: a crash mid-write leaves the previous cache. */
  async cache(spec: ClusterSpec): Promise<void> {
    await writeFile(`${this.file}.tmp`, JSON.stringify(spec) + '\n');
    await rename(`${this.file}.tmp`, this.file);
  }

  /** The current configuration, then each change, to `onSpec` (a deletion keeps the last one). */
  async watch(onSpec: (spec: ClusterSpec) => void): Promise<Watch> {
    const { items, revision } = await this.store.list('ClusterConfig');
    const mine = items.find((c) => c.metadata.name === CLUSTER_CONFIG_NAME);
    if (mine) onSpec(mine.spec);
    return this.store.watch('ClusterConfig', {
      fromRevision: revision,
      onEvent: (ev) => {
        const obj = ev.type === 'RESYNC' ? ev.items.find((c) => c.metadata.name === CLUSTER_CONFIG_NAME) : ev.object;
        if (obj && obj.metadata.name === CLUSTER_CONFIG_NAME && ev.type !== 'DELETED') onSpec(obj.spec);
      },
    });
  }
}
