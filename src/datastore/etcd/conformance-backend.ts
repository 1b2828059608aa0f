// The shared Store suite's view of a real etcd server (plaintext or TLS): one key prefix per case,
// history compaction, outages and revocations done through an admin client. Used by the etcd
// kernel tests only.
import type { Etcd3 } from 'etcd3';
import type { ConformanceBackend } from '../conformance.js';
import type { EtcdServer } from './server.js';
import type { EtcdStore } from './store.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function etcdConformanceBackend(server: EtcdServer, admin: Etcd3, prefix: string, connect: () => EtcdStore): ConformanceBackend {
  return {
    ttlSeconds: 2,
    connect: () => Promise.resolve(connect()),
    elapse: sleep,
    compact: async () => {
      const { header } = await admin.kv.range({ key: Buffer.from(prefix), count_only: true });
      await admin.kv.compact({ revision: header.revision, physical: true });
    },
    outage: async (ms) => {
      await server.stop();
      await sleep(ms);
      await server.start();
    },
    revokeElsewhere: async (id) => {
      await admin.leaseClient.leaseRevoke({ ID: id });
    },
    close: async () => {
      await admin.delete().prefix(prefix);
    },
  };
}
