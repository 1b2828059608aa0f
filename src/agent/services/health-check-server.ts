// The healthCheckNodePort of each externalTrafficPolicy=Local LoadBalancer Service, answered as
// kube-proxy answers it, so a cloud load balancer sends traffic only to nodes with a local
// endpoint: HTTP 200 when this node has one or more, 503 when it has none; the JSON body names the
// Service and counts the local endpoints. One listener per port, opened and closed as Services
// come and go; a port that cannot be opened is reported, not fatal.
import { createServer, type Server } from 'node:http';
import type { HealthCheck } from '../../services/index.js';
import { describeError } from '../../util/errors.js';
import type { Logger } from '../../util/log.js';

interface Listener {
  server: Server;
  check: HealthCheck;
  error?: string;
}

export class HealthCheckServer {
  private readonly listeners = new Map<number, Listener>();

  constructor(
    private readonly log: Logger,
    /** Address to listen on (default: every address of the node). */
    private readonly host = '0.0.0.0',
  ) {}

  /** Opens, updates and closes listeners to match `checks`. */
  async update(checks: HealthCheck[]): Promise<void> {
    const want = new Map(checks.map((c) => [c.port, c]));
    for (const [port, l] of this.listeners) {
      if (want.has(port)) continue;
      this.listeners.delete(port);
      await new Promise<void>((r) => l.server.close(() => r()));
    }
    for (const [port, check] of want) {
      const l = this.listeners.get(port);
      if (l) {
        l.check = check;
        continue;
      }
      const entry: Listener = { check, server: createServer((_req, res) => {
        const c = entry.check;
        const body = JSON.stringify({ service: { namespace: c.namespace, name: c.name }, localEndpoints: c.localEndpoints, serviceProxyHealthy: true });
        res.writeHead(c.localEndpoints > 0 ? 200 : 503, { 'content-type': 'application/json', 'x-content-type-options': 'nosniff', 'x-load-balancing-endpoint-weight': String(c.localEndpoints) });
        res.end(body);
      }) };
      this.listeners.set(port, entry);
      await new Promise<void>((resolve) => {
        entry.server.once('error', (e) => {
          entry.error = describeError(e);
          this.log.warn('cannot serve a healthCheckNodePort', { port, service: `${check.namespace}/${check.name}`, error: entry.error });
          resolve();
        });
        entry.server.listen(port, this.host, () => resolve());
      });
    }
  }

  status(): { port: number; service: string; localEndpoints: number; error?: string }[] {
    return [...this.listeners].map(([port, l]) => ({ port, service: `${l.check.namespace}/${l.check.name}`, localEndpoints: l.check.localEndpoints, ...(l.error ? { error: l.error } : {}) }));
  }

  async close(): Promise<void> {
    await this.update([]);
  }
}
