// `twill encryption …`: actions on this node's encryption (the agent does the work).
import type { Command } from 'commander';
import { DEFAULT_AGENT_SOCKET } from '../dataplane/kernel/names.js';
import { describeError } from '../util/errors.js';
import { agentRequest } from './client.js';

export function registerEncryption(program: Command): void {
  const enc = program.command('encryption').description('transparent encryption between nodes (WireGuard)');
  enc
    .command('rotate-key')
    .description('give this node a new WireGuard key pair; peers pick up the new public key from its node record (pods keep running)')
    .option('--socket <path>', 'agent API socket', DEFAULT_AGENT_SOCKET)
    .action(async (o: { socket: string }) => {
      try {
        const r = await agentRequest<{ node: string; publicKey: string; previous: string }>(o.socket, 'POST', '/v1/encryption/rotate-key', {}, 15_000);
        console.log(`${r.node}: new public key ${r.publicKey} (was ${r.previous})`);
      } catch (e) {
        console.error(`twill encryption rotate-key: ${describeError(e)}`);
        process.exit(1);
      }
    });
}
