// Where a Services proxy's heap goes at scale, without a kernel: the decoded objects (as the
// Kubernetes datastore decodes the apiserver's answers), the compiler's state after the first
// full compile, and the full table's text. Each figure is the heap used after a full GC.
//   node --expose-gc --import tsx bench/services/memory.ts [SERVICES]
import { decodeObject } from '../../src/datastore/kubernetes/resources.js';
import { ServicesCompiler } from '../../src/services/compiler.js';
import { renderFullReplace } from '../../src/policy/render.js';
import type { EndpointSlice, Service } from '../../src/model/types.js';
import { filler } from './objects.js';

const N = Number(process.argv[2] ?? 10000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const heapMB = (): number => {
  gc();
  gc();
  return +(process.memoryUsage().heapUsed / 2 ** 20).toFixed(1);
};
const apiShape = (o: Service | EndpointSlice, i: number): Record<string, unknown> => {
  // What the apiserver adds that the decoder drops or keeps (uid, timestamps, defaults, managedFields).
  const raw = JSON.parse(JSON.stringify(o)) as Record<string, Record<string, unknown>>;
  Object.assign(raw['metadata']!, { uid: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`, resourceVersion: String(1000 + i), creationTimestamp: '2026-12-02T00:00:00Z', generation: 1, managedFields: [{ manager: 'bench', operation: 'Update', fieldsV1: { 'f:spec': {} } }] });
  if (o.kind === 'Service') Object.assign(raw['spec']!, { sessionAffinity: 'None', ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', internalTrafficPolicy: 'Cluster' });
  return raw;
};
const base = heapMB();
const services = new Map<string, Service>();
const slices = new Map<string, EndpointSlice>();
for (let i = 0; i < N; i++) {
  const [s, sl] = filler(i);
  services.set(`default/s${i}`, decodeObject('Service', apiShape(s, 2 * i)));
  slices.set(`default/s${i}-a`, decodeObject('EndpointSlice', apiShape(sl, 2 * i + 1)));
}
const objects = heapMB();
const compiler = new ServicesCompiler();
let t = performance.now();
const cpu0 = process.cpuUsage();
const c = compiler.update({ node: { name: 'bench-node', addresses: ['192.0.2.11'] }, podCidrs: ['10.244.0.0/14'], services, slices });
const compileMs = performance.now() - t;
const cpu = process.cpuUsage(cpu0);
const compileCpuMs = Math.round((cpu.user + cpu.system) / 1000);
const compiled = heapMB();
t = performance.now();
let text: string | undefined = renderFullReplace(c.model);
const renderMs = performance.now() - t;
const withText = heapMB();
const textMB = +(text.length / 2 ** 20).toFixed(1);
text = undefined;
const after = heapMB();
console.log(JSON.stringify({ services: N, heapMB: { base, objects: +(objects - base).toFixed(1), compilerState: +(compiled - objects).toFixed(1), modelAndText: +(withText - compiled).toFixed(1), afterTextDropped: +(after - compiled).toFixed(1) }, textMB, compileMs: Math.round(compileMs), compileCpuMs, renderMs: Math.round(renderMs), rssMB: Math.round(process.memoryUsage().rss / 2 ** 20) }));
