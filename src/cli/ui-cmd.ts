// `twill ui`: the web UI (service map, flows, policy view) on a loopback address by default.
import type { Command } from 'commander';
import { DEFAULT_AGENT_SOCKET } from '../dataplane/kernel/names.js';
import { UiServer } from '../ui/server.js';
import { describeError } from '../util/errors.js';
import { flowTargets } from './flows-client.js';

export function registerUi(program: Command): void {
  program
    .command('ui')
    .description('serve the web UI: a live service map, the flow table with observe\'s filters, and a policy view')
    .option('--lab [name]', 'every node of the lab')
    .option('--socket <path>', 'one agent\'s API socket', DEFAULT_AGENT_SOCKET)
    .option('--listen <host:port>', 'where to serve it (loopback unless you say otherwise)', '127.0.0.1:8765')
    .action(async (o: { lab?: string | boolean; socket?: string; listen: string }) => {
      try {
        const ui = new UiServer(await flowTargets(o));
        const url = await ui.start(o.listen);
        console.log(`twill ui: ${url}`);
        await new Promise<void>((resolve) => {
          const stop = (): void => void ui.stop().finally(resolve);
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      } catch (e) {
        console.error(`twill ui: ${describeError(e)}`);
        process.exitCode = 1;
      }
    });
}
