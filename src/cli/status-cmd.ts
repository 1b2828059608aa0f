import type { Command } from 'commander';
import { DEFAULT_AGENT_SOCKET } from '../dataplane/kernel/names.js';
import { describeError } from '../util/errors.js';
import { agentRequest } from './client.js';

interface Status {
  node: string;
  version: string;
  mode: string;
  uptimeSeconds: number;
  mtu: number;
  ipam: { blocks: string[]; allocated: number; capacity: number };
  attachments: { id: string; ips: string[]; iface: string; pod?: string }[];
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show what the local agent is doing')
    .option('--socket <path>', 'agent API socket', DEFAULT_AGENT_SOCKET)
    .option('-o, --output <format>', 'text | json', 'text')
    .action(async (opts: { socket: string; output: string }) => {
      try {
        const s = await agentRequest<Status>(opts.socket, 'GET', '/v1/status');
        if (opts.output === 'json') {
          console.log(JSON.stringify(s, null, 2));
          return;
        }
        console.log(`node ${s.node}  agent ${s.version}  mode ${s.mode}  up ${s.uptimeSeconds}s  pod MTU ${s.mtu}`);
        console.log(`IPAM: ${s.ipam.allocated}/${s.ipam.capacity} addresses in ${s.ipam.blocks.join(', ') || '(no blocks)'}`);
        console.log(`attachments: ${s.attachments.length}`);
        for (const a of s.attachments) console.log(`  ${a.pod ?? a.id}  ${a.ips.join(',')}  ${a.iface}`);
      } catch (e) {
        console.error(`twill status: ${describeError(e)}`);
        process.exit(1);
      }
    });
}
