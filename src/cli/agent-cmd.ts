import type { Command } from 'commander';
import { Agent } from '../agent/agent.js';
import { readConfigFile, validateConfig, type AgentConfig } from '../agent/config.js';
import { describeError } from '../util/errors.js';
import { rootLogger, setLogFormat, setLogLevel } from '../util/log.js';

function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`"${v}" is not an integer`);
  return n;
}

export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description('run the per-node agent (programs pod networking; serves twill-cni on a unix socket)')
    .option('--node-name <name>', 'this node\'s name (Kubernetes node name)')
    .option('--pod-cidr <cidr>', 'standalone mode: the pod address range of this node')
    .option('--state-dir <dir>', 'where IPAM records and attachments are kept (default /var/lib/twill)')
    .option('--socket <path>', 'API socket for twill-cni and the CLI (default /run/twill/agent.sock)')
    .option('--run-dir <dir>', 'runtime files, e.g. nftables scripts (default /run/twill)')
    .option('--mtu <n>', 'pod MTU (default: underlay MTU minus backend overhead)', int)
    .option('--config <file>', 'config file (JSON or YAML); flags win over it')
    .option('--log-level <level>', 'debug | info | warn | error')
    .option('--log-format <format>', 'text | json')
    .action(async (opts: Record<string, unknown>) => {
      let cfg: AgentConfig;
      try {
        const fromFile = typeof opts['config'] === 'string' ? readConfigFile(opts['config']) : {};
        const flags: Partial<AgentConfig> = {};
        for (const k of ['nodeName', 'podCidr', 'stateDir', 'socket', 'runDir', 'mtu', 'logLevel', 'logFormat'] as const) {
          if (opts[k] !== undefined) (flags as Record<string, unknown>)[k] = opts[k];
        }
        cfg = validateConfig({ ...fromFile, ...flags });
      } catch (e) {
        console.error(`twill agent: ${describeError(e)}`);
        process.exit(2);
      }
      setLogLevel(cfg.logLevel);
      setLogFormat(cfg.logFormat);
      const log = rootLogger.child('agent', { node: cfg.nodeName });
      const agent = new Agent(cfg, log);
      const stop = (sig: string) => {
        log.info('stopping', { signal: sig });
        void agent.stop().finally(() => process.exit(0));
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      try {
        await agent.start();
      } catch (e) {
        log.error('agent failed to start', { error: describeError(e) });
        process.exit(1);
      }
    });
}
