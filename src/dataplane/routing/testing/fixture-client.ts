// Test side of node-fixture.ts: one long-lived fixture process per node namespace.
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { TestScope } from '../../../../test/support/scope.js';
import type { NatSnapshot } from '../../nat/index.js';
import type { ApplySummary, CurrentRouting, PeerError, RoutingSnapshot } from '../index.js';

const FIXTURE = fileURLToPath(new URL('./node-fixture.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../../../../', import.meta.url));

export interface ApplyResult {
  summary: ApplySummary;
  peerErrors: PeerError[];
  podMTU: number;
  natChanged: boolean | undefined;
}

export class NodeFixture {
  private next = 1;
  private readonly waiting = new Map<number, (r: Record<string, unknown>) => void>();
  private stderr = '';

  private constructor(
    readonly node: string,
    private readonly child: ChildProcess,
  ) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const r = JSON.parse(line) as Record<string, unknown> & { id: number };
      this.waiting.get(r.id)?.(r);
      this.waiting.delete(r.id);
    });
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  static start(scope: TestScope, node: string, netns: string): NodeFixture {
    const child = scope.spawn('ip', ['netns', 'exec', netns, process.execPath, '--import', 'tsx', FIXTURE], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    return new NodeFixture(node, child);
  }

  private request(body: Record<string, unknown>, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${this.node}: fixture did not answer within ${timeoutMs} ms; stderr: ${this.stderr.slice(-2000)}`));
      }, timeoutMs);
      this.waiting.set(id, (r) => {
        clearTimeout(timer);
        if (r['ok'] === true) resolve(r);
        else reject(new Error(`${this.node}: ${String(r['error'])}`));
      });
      this.child.stdin!.write(JSON.stringify({ id, ...body }) + '\n');
    });
  }

  async apply(snapshot: RoutingSnapshot, runDir: string, nat?: NatSnapshot): Promise<ApplyResult> {
    return (await this.request({ op: 'apply', snapshot, runDir, ...(nat ? { nat } : {}) })) as unknown as ApplyResult;
  }

  async read(): Promise<CurrentRouting> {
    return (await this.request({ op: 'read' }))['state'] as CurrentRouting;
  }
}
