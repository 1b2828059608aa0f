// `twill ui`: a small HTTP server on loopback that serves the page (bundled at build time into
// dist/ui/app.js; nothing is fetched from the network at run time) and a JSON API over the
// agents: flows merged from every node (long poll), pods with their selecting policies, explain.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { agentRequest } from '../cli/client.js';
import { FlowFollower, recentFlows, type AgentTarget } from '../cli/flows-client.js';
import type { FlowRecord } from '../flows/index.js';
import { TwillError, describeError } from '../util/errors.js';
import { projectRoot } from '../util/paths.js';
import { PAGE } from './page.js';

export interface PodView {
  pod: string;
  node: string;
  ips: string[];
  labels: Record<string, string>;
  ingress: string[];
  egress: string[];
}

const KEEP = 5000;

export class UiServer {
  private server: Server | undefined;
  private follower: FlowFollower | undefined;
  private readonly records: FlowRecord[] = [];
  private seq = 0;
  private readonly waiters = new Set<() => void>();
  readonly notes: string[] = [];

  constructor(private readonly targets: AgentTarget[]) {}

  async start(listen: string): Promise<string> {
    const first = await recentFlows(this.targets, { last: 500 });
    this.add(first.records);
    this.follower = new FlowFollower(this.targets, undefined, (rs) => this.add(rs), (n) => this.note(n), 50);
    this.follower.start(first.cursors);
    const i = listen.lastIndexOf(':');
    const host = listen.slice(0, i).replace(/^\[|\]$/g, '') || '127.0.0.1';
    const port = Number(listen.slice(i + 1));
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TwillError('CONFIG_INVALID', `--listen "${listen}" is not HOST:PORT`);
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new TwillError('CONFIG_INVALID', `cannot listen on ${listen}: ${e.message}`, { cause: e })));
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    const a = server.address();
    const at = typeof a === 'object' && a ? a : { address: host, port };
    return `http://${at.address.includes(':') ? `[${at.address}]` : at.address}:${at.port}/`;
  }

  async stop(): Promise<void> {
    this.follower?.stop();
    for (const w of this.waiters) w();
    const s = this.server;
    this.server = undefined;
    if (s) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }

  private note(n: string): void {
    this.notes.push(`${new Date().toISOString()} ${n}`);
    if (this.notes.length > 50) this.notes.shift();
  }

  private add(rs: FlowRecord[]): void {
    for (const r of rs) {
      // Records get the UI's own sequence: agents number theirs independently.
      this.records.push({ ...r, id: ++this.seq });
    }
    if (this.records.length > KEEP) this.records.splice(0, this.records.length - KEEP);
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  private async flows(after: number, waitMs: number): Promise<{ records: FlowRecord[]; cursor: number }> {
    const pick = (): FlowRecord[] => this.records.filter((r) => r.id > after);
    if (pick().length === 0 && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          this.waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, Math.min(waitMs, 25_000));
        this.waiters.add(done);
      });
    }
    return { records: pick(), cursor: this.seq };
  }

  private async pods(): Promise<{ nodes: string[]; pods: PodView[] }> {
    for (const t of this.targets) {
      try {
        const r = await agentRequest<{ pods: PodView[] }>(t.socket, 'GET', '/v1/policy/pods', undefined, 3000);
        return { nodes: this.targets.map((x) => x.node), pods: r.pods };
      } catch (e) {
        this.note(`node ${t.node}: ${describeError(e)}`);
      }
    }
    throw new TwillError('AGENT_UNREACHABLE', 'no agent answered');
  }

  private async explain(body: { from?: string; to?: string; port?: number; protocol?: string }): Promise<unknown> {
    // why: read-only: without the pod list the first node explains
    const { pods } = await this.pods().catch(() => ({ pods: [] as PodView[] }));
    const node = pods.find((p) => p.pod === body.from || p.ips.includes(String(body.from)))?.node;
    const t = this.targets.find((x) => x.node === node) ?? this.targets[0]!;
    return agentRequest(t.socket, 'POST', '/v1/policy/explain', body, 5000);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://ui');
    const json = (status: number, v: unknown): void => {
      const text = JSON.stringify(v);
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(text);
    };
    try {
      if (req.method === 'GET' && url.pathname === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'" }).end(PAGE);
      } else if (req.method === 'GET' && url.pathname === '/app.js') {
        const js = await readFile(join(projectRoot(), 'dist', 'ui', 'app.js')).catch(() => {
          throw new TwillError('NOT_FOUND', 'dist/ui/app.js is missing: run `make build`');
        });
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(js);
      } else if (req.method === 'GET' && url.pathname === '/api/flows') {
        json(200, await this.flows(Number(url.searchParams.get('after') ?? 0) || 0, Number(url.searchParams.get('wait') ?? 0) || 0));
      } else if (req.method === 'GET' && url.pathname === '/api/pods') {
        json(200, await this.pods());
      } else if (req.method === 'GET' && url.pathname === '/api/notes') {
        json(200, { notes: this.notes });
      } else if (req.method === 'POST' && url.pathname === '/api/explain') {
        let body = '';
        for await (const c of req) {
          body += (c as Buffer).toString();
          if (body.length > 10_000) throw new TwillError('DECODE', 'request too large');
        }
        json(200, await this.explain(JSON.parse(body || '{}') as Record<string, never>));
      } else json(404, { error: { code: 'NOT_FOUND', message: `no such page: ${req.method} ${url.pathname}` } });
    } catch (e) {
      json(e instanceof TwillError && e.code === 'NOT_FOUND' ? 404 : 500, { error: { message: describeError(e) } });
    }
  }
}
