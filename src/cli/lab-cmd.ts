import type { Command } from 'commander';
import { demo, demoDown } from '../lab/demo.js';
import { describeError } from '../util/errors.js';

export function registerLab(program: Command): void {
  const lab = program.command('lab').description('a whole cluster network on this host, in network namespaces');
  lab
    .command('demo')
    .description('one node, three pods wired through twill-cni, a ping and a TCP check')
    .action(async () => {
      try {
        const ok = await demo((s) => console.log(s));
        process.exitCode = ok ? 0 : 1;
      } catch (e) {
        console.error(`twill lab demo: ${describeError(e)}`);
        process.exitCode = 1;
      }
    });
  lab
    .command('down')
    .description('remove every namespace, link, process and file the lab created')
    .option('--name <name>', 'lab name', 'demo')
    .action(async () => {
      try {
        await demoDown();
      } catch (e) {
        console.error(`twill lab down: ${describeError(e)}`);
        process.exitCode = 1;
      }
    });
}
