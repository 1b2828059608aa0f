// The `twill` command. Each subcommand lives in its own file and registers itself here.
import { Command } from 'commander';
import { AGENT_VERSION } from '../agent/agent.js';
import { registerAgent } from './agent-cmd.js';
import { registerStatus } from './status-cmd.js';
import { registerLab } from './lab-cmd.js';
import { registerPolicy } from './policy-cmd.js';
import { registerObserve } from './observe-cmd.js';
import { registerUi } from './ui-cmd.js';
import { registerInstallCni } from './install-cni-cmd.js';
import { registerEncryption } from './encryption-cmd.js';

process.setSourceMapsEnabled(true);

const program = new Command('twill')
  .description('Twill: a Kubernetes network plugin on the kernel\'s own datapath, and a lab to try it on one host')
  .version(AGENT_VERSION, '-v, --version')
  .showHelpAfterError()
  .configureHelp({ sortSubcommands: false });

registerAgent(program);
registerStatus(program);
registerLab(program);
registerPolicy(program);
registerObserve(program);
registerUi(program);
registerInstallCni(program);
registerEncryption(program);

await program.parseAsync(process.argv);
