// `twill lab demo` (what `make lab` runs): a 3-node VXLAN lab, the sample pods, a probe of every
// pod from every pod, and where to go next. Running it again is harmless: the lab is repaired or
// reused, the pods re-applied (unchanged ones stay as they are).
import { join } from 'node:path';
import { projectRoot } from '../util/paths.js';
import { applyDocs, ensureDefaultNamespace } from './apply.js';
import { getNodes } from './get.js';
import { LAB_DEFAULTS, Lab, type Print } from './lab.js';
import { loadManifests } from './manifest.js';
import { formatMatrix, probeLab } from './probe.js';

export async function labDemo(print: Print, name = 'lab'): Promise<boolean> {
  const t0 = Date.now();
  print(`Twill lab "${name}": 3 nodes, VXLAN, pool ${LAB_DEFAULTS.pool}`);
  const lab = await Lab.up({ ...LAB_DEFAULTS, name, nodes: 3, backend: 'vxlan' }, print);
  try {
    await ensureDefaultNamespace(await lab.store());
    print('');
    print(await getNodes(lab, 'text'));
    print('');
    const file = join(projectRoot(), 'examples', 'lab', 'pods.yaml');
    print(`$ twill lab apply -f ${file}`);
    await applyDocs(lab, await loadManifests([file]), print);
    print('');
    print('$ twill lab probe   (every pod → every pod, on each declared port, from inside the source pod)');
    const results = await probeLab(lab, { timeoutMs: 1500 });
    print(formatMatrix(results));
    const ok = results.filter((r) => r.connected).length;
    const all = ok === results.length && results.length > 0;
    print(`${all ? 'OK' : 'PROBLEM'}: ${ok}/${results.length} connections across ${lab.state.nodes.length} nodes (${((Date.now() - t0) / 1000).toFixed(1)} s).`);
    print('');
    print('Go on:');
    print('  twill lab get pods -o wide             where each pod runs, its address and namespace');
    print('  twill lab exec shop/web -- ip route    run anything inside a pod');
    print('  twill lab apply -f examples/lab/policy-deny-db.yaml && twill lab probe    NetworkPolicy at work');
    print('  twill lab node add | node stop node-2  watch routes converge and the datapath survive');
    print('  twill lab bench                        throughput against the hand-wired kernel path');
    print('  twill lab logs node-1                  what an agent did and why');
    print('  twill lab down                         remove everything');
    return all;
  } finally {
    await lab.close();
  }
}
