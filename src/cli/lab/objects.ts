// `twill lab get | apply | delete`: the objects of a lab (nodes, pods, policies, Services …).
import type { Command } from 'commander';
import { applyDocs, deleteDocs } from '../../lab/apply.js';
import { getNodes, getPods, getPolicies } from '../../lab/get.js';
import { loadManifests } from '../../lab/manifest.js';
import { resolveLab } from '../../lab/state.js';
import { kubectlTarget } from '../../lab/kubernetes/cluster.js';
import { kubectl } from '../../lab/kubernetes/kubectl.js';
import { print, action, withLab, nameOpt, outputOpt } from './common.js';

export function registerObjects(lab: Command): void {
  lab
    .command('get')
    .description('list nodes, pods or networkpolicies')
    .argument('<what>', 'nodes | pods | networkpolicies (netpol)')
    .addOption(nameOpt())
    .addOption(outputOpt(['text', 'wide', 'json']).default('text'))
    .action(
      action('get', async (what: string, o: { name?: string; output: 'text' | 'wide' | 'json' }) => {
        const st = await resolveLab(o.name);
        if (st.kubernetes) {
          const out = o.output === 'text' ? [] : ['-o', o.output];
          print((await kubectl(kubectlTarget(st), ['get', what, ...(/^(nodes?|no)$/.test(what) ? [] : ['-A']), ...out])).stdout.trimEnd());
          return;
        }
        await withLab(o.name, async (l) => {
          if (/^(nodes?|no)$/.test(what)) print(await getNodes(l, o.output));
          else if (/^(pods?|po)$/.test(what)) print(await getPods(l, o.output));
          else if (/^(networkpolic(y|ies)|netpol)$/.test(what)) print(await getPolicies(l, o.output));
          else throw new Error(`cannot get "${what}": use nodes, pods or networkpolicies`);
        });
      }),
    );

  for (const verb of ['apply', 'delete'] as const) {
    lab
      .command(verb)
      .description(verb === 'apply' ? 'create or update Namespaces, Pods, NetworkPolicies, Services and EndpointSlices from YAML' : 'delete what the YAML names')
      .requiredOption('-f, --filename <path...>', 'YAML files or directories')
      .addOption(nameOpt())
      .action(
        action(verb, async (o: { filename: string[]; name?: string }) => {
          const st = await resolveLab(o.name);
          if (st.kubernetes) {
            print((await kubectl(kubectlTarget(st), [verb, ...o.filename.flatMap((f) => ['-f', f])])).stdout.trimEnd());
            return;
          }
          const docs = await loadManifests(o.filename);
          await withLab(o.name, (l) => (verb === 'apply' ? applyDocs(l, docs, print) : deleteDocs(l, docs, print)));
        }),
      );
  }

}
