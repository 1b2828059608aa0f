// Seeded random NetworkPolicies against the REAL lab: each round labels some pods and namespaces,
// applies a few random valid policies, and compares every cell of the probe matrix (9 pods x 9
// pods x 80/81 x TCP/UDP) with the evaluator; then changes one policy, maybe deletes another and
// relabels, and compares again. The seed is printed; reproduce with NETPOL_SEED=<seed> (NETPOL_ROUNDS=<n>
// for more or fewer rounds; round r uses seed+r, so NETPOL_SEED=<seed+r> NETPOL_ROUNDS=1 replays
// one round alone).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { loadManifests } from '../../src/lab/manifest.js';
import type { Namespace, NetworkPolicy, Pod } from '../../src/model/types.js';
import { validateNetworkPolicy } from '../../src/policy/index.js';
import { CLUSTER_YAML, NetpolLab } from './support/netpol-lab.js';
import { Rng, labelled, randomLabels, randomPolicy, type RandomCluster, type RoundLabels } from './support/random-policy.js';
import { disagreement } from './support/witnesses.js';

const LAB = 'npe2';
const SEED = Number(process.env['NETPOL_SEED'] ?? Math.floor(Math.random() * 1e9));
const ROUNDS = Number(process.env['NETPOL_ROUNDS'] ?? 10);

let np: NetpolLab;
let base: { pods: Pod[]; namespaces: Namespace[] };

before(async () => {
  np = await NetpolLab.start(LAB);
  const docs = (await loadManifests([CLUSTER_YAML])).map((d) => d.obj);
  base = { pods: docs.filter((o): o is Pod => o.kind === 'Pod'), namespaces: docs.filter((o): o is Namespace => o.kind === 'Namespace') };
}, { timeout: 120_000 });

after(async () => {
  await np?.stop();
});

function describeRound(labels: RoundLabels, policies: NetworkPolicy[]): string {
  const l = [...labels.pods].map(([p, x]) => `${p} ${JSON.stringify(x)}`).concat([...labels.namespaces].map(([n, x]) => `namespace ${n} ${JSON.stringify(x)}`));
  return [`extra labels: ${l.join('; ') || 'none'}`, 'policies:', ...policies.map((p) => `---\n${stringify(p).trimEnd()}`)].join('\n');
}

/** Allowed and denied cells seen, so a generator that stopped denying anything is noticed. */
const seen = { allowed: 0, denied: 0 };

async function compare(title: string, labels: RoundLabels, policies: NetworkPolicy[]): Promise<void> {
  const evaluator = await np.evaluatorMatrix();
  for (const v of evaluator.values()) seen[v ? 'allowed' : 'denied']++;
  const kernel = await np.kernelMatrix(evaluator);
  const report = await disagreement(np, title, { name: 'the evaluator', matrix: evaluator }, [{ name: 'the kernel', matrix: kernel }]);
  if (report) assert.fail(`${report}\n\n${describeRound(labels, policies)}`);
}

test(`random policies, kernel == evaluator on every cell (NETPOL_SEED=${SEED}, ${ROUNDS} rounds)`, { timeout: 60_000 + ROUNDS * 30_000 }, async (t) => {
  t.diagnostic(`reproduce with NETPOL_SEED=${SEED} NETPOL_ROUNDS=${ROUNDS}`);
  const cluster: RandomCluster = { ips: np.ips, pool: np.lab.state.pool };
  for (let round = 0; round < ROUNDS; round++) {
    const seed = SEED + round;
    const where = `round ${round} (replay alone: NETPOL_SEED=${seed} NETPOL_ROUNDS=1)`;
    const rng = new Rng(seed);
    let labels = randomLabels(rng, cluster);
    const policies = Array.from({ length: rng.int(1, 4) }, (_, i) => randomPolicy(rng, cluster, `r${round}-p${i}`));
    for (const p of policies) assert.deepEqual(validateNetworkPolicy(p), [], `${where}: the generator made an invalid policy\n${stringify(p)}`);
    try {
      const l = labelled(base, labels);
      await np.applyObjects([...l.namespaces, ...l.pods, ...policies]);
      await compare(`${where}, policies applied`, labels, policies);

      // Change one policy in place (same name, new spec) and maybe delete another.
      const i = rng.int(0, policies.length - 1);
      const changed = randomPolicy(rng, cluster, policies[i]!.metadata.name, policies[i]!.metadata.namespace);
      assert.deepEqual(validateNetworkPolicy(changed), []);
      policies[i] = changed;
      await np.applyObjects([changed]);
      let also = '';
      if (policies.length > 1 && rng.bool()) {
        const [gone] = policies.splice(rng.int(0, policies.length - 1), 1);
        await np.deleteObjects([gone!]);
        also += `, ${gone!.metadata.namespace}/${gone!.metadata.name} deleted`;
      }
      if (rng.bool()) {
        // Relabel: pods and namespaces join and leave the policies' selections.
        labels = randomLabels(rng, cluster);
        const l2 = labelled(base, labels);
        await np.applyObjects([...l2.namespaces, ...l2.pods]);
        also += ', labels changed';
      }
      await compare(`${where}, ${changed.metadata.namespace}/${changed.metadata.name} changed${also}`, labels, policies);
    } finally {
      await np.reset();
    }
  }
  t.diagnostic(`cells compared: ${seen.allowed} allowed, ${seen.denied} denied`);
  assert.ok(seen.denied > seen.allowed / 50 && seen.allowed > seen.denied / 50, `the rounds hardly varied (${seen.allowed} allowed, ${seen.denied} denied cells): the generator is broken`);
});
