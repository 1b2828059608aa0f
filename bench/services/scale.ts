// Twill-only scale measurement of the services table (NOT the benchmark: no kube-proxy
// baseline runs here yet). Usage, as root, serialized with other kernel work:
//   ip netns add svbench && node --import tsx bench/services/scale.ts 10000 /run/netns/svbench; ip netns del svbench
// Prints JSON: compile time, full sync into the kernel, and the latency of one endpoint change
// (compile + incremental nft transaction), 30 samples.
import { ServicesDataplane } from '../../src/services/apply.js';
import { compileServices } from '../../src/services/compile.js';
import { service, slice, endpoint, snapshot } from '../../src/services/fixtures.js';
const N = Number(process.argv[2] ?? 10000);
const ns = process.argv[3] ?? '';
if (!ns) throw new Error('usage: scale.ts SERVICES NETNS_PATH (a namespace of its own: the table is replaced there)');
const mk = (i: number, shift = 0) => slice(`s${i}`, [0, 1, 2].map((k) => endpoint(`10.${244 + k}.${(i + shift) >> 8 & 255}.${(i + shift) & 255}`, `n${k}`)));
const svcs = Array.from({ length: N }, (_, i) => service(`s${i}`, { clusterIP: `10.96.${i >> 8}.${i & 255}` }));
const slices = Array.from({ length: N }, (_, i) => mk(i));
let t = performance.now();
const c1 = compileServices(snapshot(svcs, slices));
const compileMs = performance.now() - t;
const dp = new ServicesDataplane({ runDir: '/tmp/twill-sv-bench', netnsPath: ns });
t = performance.now();
await dp.apply(c1);
const fullMs = performance.now() - t;
const lat: number[] = [];
const compileLat: number[] = [];
for (let j = 0; j < 30; j++) {
  const i = (j * 331) % N;
  slices[i] = mk(i, 1 + j);
  const t0 = performance.now();
  const c = compileServices(snapshot(svcs, slices));
  const t1 = performance.now();
  const r = await dp.apply(c);
  lat.push(performance.now() - t0); compileLat.push(t1 - t0);
  if (r.mode !== 'incremental') throw new Error(r.mode);
}
lat.sort((a, b) => a - b); compileLat.sort((a, b) => a - b);
console.log(JSON.stringify({ services: N, endpoints: 3 * N, compileMs: Math.round(compileMs), fullSyncMs: Math.round(fullMs), endpointChange: { p50: Math.round(lat[15]!), p99: Math.round(lat[29]!), compileP50: Math.round(compileLat[15]!) }, rssMB: Math.round(process.memoryUsage().rss / 1e6) }));
