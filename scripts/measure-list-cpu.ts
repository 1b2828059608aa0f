// Main-thread CPU of the agent's first lists of Services and EndpointSlices, JSON against protobuf
// (src/datastore/kubernetes/proto/): a private kube-apiserver is given N Services with one
// three-endpoint slice each (bench/services's filler), then each way lists both kinds from the
// watch cache (with the apiserver's own default/kubernetes), alternating, ROUNDS times; prints the median CPU (user+system) and wall time.
//   flock /tmp/twill-kernel.lock node --import tsx scripts/measure-list-cpu.ts [N=10000] [ROUNDS=5]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Feeds, filler } from '../bench/services/objects.js';
import { KubernetesStore } from '../src/datastore/kubernetes/store.js';
import { startControlPlane } from '../src/datastore/kubernetes/testing/control-plane.js';

const N = Number(process.argv[2] ?? 10_000);
const ROUNDS = Number(process.argv[3] ?? 5);
const dir = await mkdtemp(join(tmpdir(), 'list-cpu-'));
const cp = await startControlPlane({ dir, disableAdmission: ['ServiceAccount'] });
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
try {
  const t0 = Date.now();
  await new Feeds(cp, undefined).put(Array.from({ length: N }, (_, i) => filler(i)).flat());
  console.error(`${N} Services and slices written in ${Date.now() - t0} ms`);
  const res: Record<string, { cpu: number[]; wall: number[]; kb: number[] }> = { json: { cpu: [], wall: [], kb: [] }, protobuf: { cpu: [], wall: [], kb: [] } };
  for (let r = 0; r < ROUNDS + 1; r++) {
    for (const way of ['json', 'protobuf'] as const) {
      const store = new KubernetesStore({ access: cp.access, protobuf: way === 'protobuf' });
      try {
        const w0 = performance.now();
        const c0 = process.cpuUsage();
        const [s, e] = [await store.list('Service', { fromCache: true }), await store.list('EndpointSlice', { fromCache: true })];
        const c = process.cpuUsage(c0);
        const wall = performance.now() - w0;
        if (s.items.length < N || e.items.length < N) throw new Error(`listed ${s.items.length} Services, ${e.items.length} slices`);
        // The first round warms the JIT and the apiserver's caches: not counted.
        if (r === 0) continue;
        res[way]!.cpu.push((c.user + c.system) / 1000);
        res[way]!.wall.push(wall);
        res[way]!.kb.push(store.client.traffic.bytesIn / 1024);
      } finally {
        await store.close();
      }
    }
  }
  const out = Object.fromEntries(Object.entries(res).map(([k, v]) => [k, { cpuMs: Math.round(median(v.cpu)), wallMs: Math.round(median(v.wall)), bytesInKB: Math.round(median(v.kb)), cpuAll: v.cpu.map(Math.round) }]));
  console.log(JSON.stringify({ services: N, rounds: ROUNDS, ...out, loadavg: (await import('node:os')).loadavg().map((l) => Math.round(l * 100) / 100) }));
} finally {
  await cp.stop();
  await rm(dir, { recursive: true, force: true });
}
