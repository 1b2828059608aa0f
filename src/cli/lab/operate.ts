// `twill lab backend | rotate-key | datastore | node …`: change a running etcd lab.
import type { Command } from 'commander';
import { getNodes } from '../../lab/get.js';
import { isBackendName } from '../../dataplane/routing/registry.js';
import { agentRequest } from '../client.js';
import { print, action, withLab, nameOpt } from './common.js';

export function registerOperate(lab: Command): void {
  lab
    .command('backend')
    .description('switch the routing backend of a running lab (pods keep running)')
    .argument('<backend>', 'vxlan | host-gw')
    .option('--direct-routing', 'vxlan: plain routes between nodes on the same segment')
    .addOption(nameOpt())
    .action(
      action('backend', async (b: string, o: { directRouting?: boolean; name?: string }) => {
        if (!isBackendName(b)) throw new Error(`backend must be vxlan or host-gw, got "${b}"`);
        await withLab(o.name, async (l) => {
          await l.setBackend(b, o.directRouting ?? false, print);
          await l.waitConverged();
          print(await getNodes(l, 'wide'));
        });
      }),
    );

  lab
    .command('rotate-key')
    .description('give a lab node a new WireGuard key pair (twill encryption rotate-key on that node)')
    .argument('<node>', 'node name, e.g. node-1')
    .addOption(nameOpt())
    .action(
      action('rotate-key', async (n: string, o: { name?: string }) => {
        await withLab(o.name, async (l) => {
          const r = await agentRequest<{ publicKey: string; previous: string }>(l.socket(n), 'POST', '/v1/encryption/rotate-key', {}, 15_000);
          print(`${n}: new public key ${r.publicKey} (was ${r.previous})`);
        });
      }),
    );

  lab
    .command('datastore')
    .description('stop or start the lab\'s etcd (to see the datapath carry on without it)')
    .argument('<action>', 'stop | start')
    .addOption(nameOpt())
    .action(
      action('datastore', async (a: string, o: { name?: string }) => {
        await withLab(o.name, async (l) => {
          if (a === 'stop') await l.stopEtcd();
          else if (a === 'start') await l.startEtcd();
          else throw new Error(`action must be stop or start, got "${a}"`);
          print(`lab ${l.name}: etcd ${a === 'stop' ? 'stopped' : 'started'}`);
        });
      }),
    );

  const node = lab.command('node').description('add, remove, stop or start a lab node');
  node.command('add').description('add node-(N+1)').addOption(nameOpt()).action(
    action('node add', async (o: { name?: string }) => {
      await withLab(o.name, async (l) => {
        const n = await l.addNode(print);
        await l.waitConverged();
        print(`${n} joined; every node has its routes`);
      });
    }),
  );
  node.command('remove').argument('<node>').description('stop the node\'s agent and remove the node').addOption(nameOpt()).action(
    action('node remove', async (n: string, o: { name?: string }) => {
      await withLab(o.name, async (l) => {
        await l.removeNode(n);
        print(`${n} removed; peers withdraw its routes when its lease expires (${l.state.leaseTtlSeconds} s)`);
      });
    }),
  );
  node.command('stop').argument('<node>').description('stop the node\'s agent (the datapath stays)').option('--kill', 'SIGKILL instead of SIGTERM').addOption(nameOpt()).action(
    action('node stop', async (n: string, o: { name?: string; kill?: boolean }) => {
      await withLab(o.name, async (l) => l.stopAgent(n, o.kill ? 'SIGKILL' : 'SIGTERM'));
    }),
  );
  node.command('start').argument('<node>').description('start the node\'s agent again').addOption(nameOpt()).action(
    action('node start', async (n: string, o: { name?: string }) => {
      await withLab(o.name, async (l) => {
        print(`agent on ${n}: pid ${await l.startAgent(n)}`);
      });
    }),
  );

}
