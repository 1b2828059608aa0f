// Twill-only scale measurement of the services compiler and dataplane, without a datastore or a
// baseline (bench/services/main.ts is the benchmark). Usage, as root, serialized:
//   ip netns add svbench && node --import tsx bench/services/scale.ts 10000 /run/netns/svbench; ip netns del svbench
// Prints JSON: full compile, full sync into the kernel, and the latency of one endpoint change
// (incremental compile + netlink batch), 30 samples.
import { ServicesDataplane } from '../../src/services/apply.js';
import { ServicesCompiler } from '../../src/services/compiler.js';
import { service, slice, endpoint } from '../../src/services/fixtures.js';
const N = Number(process.argv[2] ?? 10000);
const ns = process.argv[3] ?? '';
if (!ns) throw new Error('usage: scale.ts SERVICES NETNS_PATH (a namespace of its own: the table is replaced there)');
const mk = (i: number, shift = 0) => slice(`s${i}`, [0, 1, 2].map((k) => endpoint(`10.${244 + k}.${((i + shift) >> 8) & 255}.${(i + shift) & 255}`, `n${k}`)));
const services = new Map(Array.from({ length: N }, (_, i) => [`default/s${i}`, service(`s${i}`, { clusterIP: `10.96.${i >> 8}.${i & 255}` })]));
const slices = new Map(Array.from({ length: N }, (_, i) => [`default/s${i}-a`, mk(i)]));
const input = { node: { name: 'n1', addresses: ['192.0.2.11'] }, podCidrs: ['10.244.0.0/16'], services, slices };
const compiler = new ServicesCompiler();
let t = performance.now();
const c1 = compiler.update(input);
void c1.model;
const compileMs = performance.now() - t;
const dp = new ServicesDataplane({ runDir: '/tmp/twill-sv-bench', netnsPath: ns });
t = performance.now();
await dp.apply(c1);
const fullMs = performance.now() - t;
const lat: number[] = [];
const compileLat: number[] = [];
let via = '';
for (let j = 0; j < 30; j++) {
  const i = (j * 331) % N;
  slices.set(`default/s${i}-a`, mk(i, 1 + j));
  const t0 = performance.now();
  const c = compiler.update(input, { services: [], slices: [`default/s${i}-a`] });
  const t1 = performance.now();
  const r = await dp.apply(c);
  lat.push(performance.now() - t0); compileLat.push(t1 - t0);
  if (r.mode !== 'incremental') throw new Error(r.mode);
  via = r.via ?? '';
}
dp.close();
lat.sort((a, b) => a - b); compileLat.sort((a, b) => a - b);
console.log(JSON.stringify({ services: N, endpoints: 3 * N, compileMs: Math.round(compileMs), fullSyncMs: Math.round(fullMs), endpointChange: { via, p50: +lat[15]!.toFixed(1), p99: +lat[29]!.toFixed(1), compileP50: +compileLat[15]!.toFixed(1) }, rssMB: Math.round(process.memoryUsage().rss / 1e6) }));
