// Regenerates src/datastore/kubernetes/proto/testdata/: a private kube-apiserver (the pinned build
// in /var/cache/twill/externals) is given Services and EndpointSlices of every shape the services
// compiler reads, and their lists are saved as the apiserver answers them, in protobuf and in JSON.
// The golden test (proto/lists.test.ts) needs neither root nor an apiserver.
//   flock /tmp/twill-kernel.lock node --import tsx scripts/capture-proto-fixtures.ts
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { startControlPlane, type ControlPlane } from '../src/datastore/kubernetes/testing/control-plane.js';
import { fixtureObjects } from '../src/datastore/kubernetes/proto/testdata/objects.js';

const OUT = new URL('../src/datastore/kubernetes/proto/testdata/', import.meta.url).pathname;
const NS = 'pf';

/** The raw answer to GET `path` with `accept`, no compression. */
function get(cp: ControlPlane, path: string, accept: string): Promise<Buffer> {
  const u = new URL(cp.server);
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: u.hostname, port: u.port, path, headers: { accept }, ca: cp.access.ca, cert: cp.access.cert, key: cp.access.key }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`${path}: ${res.statusCode} ${Buffer.concat(chunks).toString()}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

const dir = await mkdtemp(join(tmpdir(), 'proto-fixtures-'));
// Dual-stack Service addresses, so clusterIPs/ipFamilies hold two.
const cp = await startControlPlane({ dir, disableAdmission: ['ServiceAccount'], extraArgs: ['--service-cluster-ip-range=10.96.0.0/16,fd00:96::/112'] });
try {
  const admin = cp.admin();
  await admin.request('/api/v1/namespaces', { method: 'POST', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }, what: 'creating the namespace' });
  const { services, statuses, slices } = fixtureObjects(NS);
  for (const s of services) await admin.request(`/api/v1/namespaces/${NS}/services`, { method: 'POST', body: s, what: `creating service ${s.metadata.name}` });
  for (const st of statuses) {
    const cur = await admin.request<Record<string, unknown>>(`/api/v1/namespaces/${NS}/services/${st.name}`, { what: 'reading' });
    await admin.request(`/api/v1/namespaces/${NS}/services/${st.name}/status`, { method: 'PUT', body: { ...cur, status: st.status }, what: `status of ${st.name}` });
  }
  for (const e of slices) await admin.request(`/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`, { method: 'POST', body: e, what: `creating slice ${e.metadata.name}` });
  admin.close();
  const lists = { services: `/api/v1/namespaces/${NS}/services`, endpointslices: `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices` };
  for (const [name, path] of Object.entries(lists)) {
    await writeFile(join(OUT, `${name}.pb`), await get(cp, path, 'application/vnd.kubernetes.protobuf'));
    await writeFile(join(OUT, `${name}.json`), await get(cp, path, 'application/json'));
    // A first page of two: its continue token.
    await writeFile(join(OUT, `${name}-page.pb`), await get(cp, `${path}?limit=2`, 'application/vnd.kubernetes.protobuf'));
    await writeFile(join(OUT, `${name}-page.json`), await get(cp, `${path}?limit=2`, 'application/json'));
  }
  console.log(`wrote ${OUT}`);
} finally {
  await cp.stop();
  await rm(dir, { recursive: true, force: true });
}
