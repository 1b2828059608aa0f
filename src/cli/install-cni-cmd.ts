import type { Command } from 'commander';
import { installShim } from '../agent/cni-files.js';
import { describeError } from '../util/errors.js';

export function registerInstallCni(program: Command): void {
  program
    .command('install-cni')
    .description('install the twill-cni executable into the host\'s CNI bin dir (atomically; the DaemonSet\'s init container)')
    .requiredOption('--from <file>', 'the twill-cni executable to install (in the image: /opt/twill/dist/twill-cni)')
    .option('--to <dir>', 'the CNI bin dir', '/opt/cni/bin')
    .action(async (opts: { from: string; to: string }) => {
      try {
        const changed = await installShim(opts.from, opts.to);
        console.log(changed ? `installed ${opts.to}/twill-cni` : `${opts.to}/twill-cni is up to date`);
      } catch (e) {
        console.error(`twill install-cni: ${describeError(e)}`);
        process.exit(1);
      }
    });
}
