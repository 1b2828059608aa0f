// Kubernetes lab benchmark (issue 9's floors), one JSON object on stdout, progress on stderr:
//   npm run bench:kubernetes -- [--rounds 4] [--pods 6] [--name kb]
// 1. Install → Ready: a 3-node lab (images imported, no CNI) gets Twill installed
//    (`kubectl apply -f deploy/twill.yaml`, or standalone agents when deploy/ is absent) and the
//    time until every node is Ready is taken. Floor ≤ 30 s.
// 2. Pod start p50, Twill vs the reference bridge + host-local conflist: a second 3-node lab uses
//    the bridge; rounds alternate between the two labs (every second round in reverse order) so
//    both see the same host load. Floor: twill p50 ≤ 1.1 × bridge p50.
import { parseArgs } from 'node:util';
import { Lab } from '../../src/lab/lab.js';
import { installLabCni, kubectlTarget, upKubeLab, waitNodesReady } from '../../src/lab/kubernetes/cluster.js';
import { deployManifest } from '../../src/lab/kubernetes/install.js';
import type { LabState } from '../../src/lab/state.js';
import { podStartBatch } from './pod-start.js';
import { POD_START_RATIO_FLOOR, READY_FLOOR_MS, podStartRatio, summarize } from './report.js';

const { values: a } = parseArgs({ options: { rounds: { type: 'string', default: '4' }, pods: { type: 'string', default: '6' }, name: { type: 'string', default: 'kb' } } });
const ROUNDS = Number(a.rounds);
const PODS = Number(a.pods);
if (!(ROUNDS >= 1 && ROUNDS <= 50 && PODS >= 1 && PODS <= 60)) throw new Error('--rounds 1..50, --pods 1..60');
const TW = `${a.name}tw`;
const BR = `${a.name}br`;
const say = (l: string): void => void process.stderr.write(`[bench:kubernetes] ${l}\n`);
const quiet = (): void => undefined;

async function main(): Promise<void> {
  const install = deployManifest() ? 'deploy' : 'standalone';
  let tw: LabState | undefined;
  let br: LabState | undefined;
  try {
    for (const n of [TW, BR]) await Lab.down(n, quiet);
    say(`3-node lab ${TW}: control plane, containerd, kubelets, images`);
    tw = await upKubeLab({ name: TW, nodes: 3, cni: 'twill', install: 'none', pool: '10.244.0.0/16' }, quiet);
    say(`installing Twill (${install}) and waiting for every node to be Ready`);
    const t0 = performance.now();
    await installLabCni(tw, quiet, install);
    await waitNodesReady(kubectlTarget(tw), 3, 120_000);
    const readyMs = Math.round(performance.now() - t0);
    say(`every node Ready ${readyMs} ms after the install`);
    say(`3-node lab ${BR} with the reference bridge + host-local plugins`);
    br = await upKubeLab({ name: BR, nodes: 3, cni: 'bridge', install: 'none', pool: '10.244.0.0/16' }, quiet);
    const samples: Record<'twill' | 'bridge', number[]> = { twill: [], bridge: [] };
    for (let r = 0; r < ROUNDS; r++) {
      const order: ['twill' | 'bridge', LabState][] = [['twill', tw], ['bridge', br]];
      if (r % 2) order.reverse();
      for (const [k, s] of order) {
        const xs = await podStartBatch(s, `r${r}${k[0]}`, PODS);
        samples[k].push(...xs);
        say(`round ${r + 1}/${ROUNDS} ${k}: ${xs.sort((x, y) => x - y).join(' ')} ms`);
      }
    }
    const twill = summarize(samples.twill);
    const bridge = summarize(samples.bridge);
    const ratio = podStartRatio(twill, bridge);
    const out = {
      bench: 'kubernetes',
      date: new Date().toISOString(),
      install,
      installToReady: { nodes: 3, ms: readyMs, floorMs: READY_FLOOR_MS, meetsFloor: readyMs <= READY_FLOOR_MS },
      podStart: { rounds: ROUNDS, podsPerRound: PODS, twill, bridge, ratioP50: ratio, floorRatio: POD_START_RATIO_FLOOR, meetsFloor: ratio <= POD_START_RATIO_FLOOR, samples },
    };
    process.stdout.write(JSON.stringify(out, null, 1) + '\n');
  } finally {
    for (const n of [TW, BR]) await Lab.down(n, quiet).catch((e: unknown) => say(`could not remove lab ${n}: ${String(e)}`));
  }
}

await main();
