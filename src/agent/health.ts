// /healthz and /readyz for the kubelet's probes, on a loopback TCP port (the agent's API is a unix
// socket, which probes cannot reach). The DaemonSet pod shares the node's network, so 127.0.0.1 is
// the node's loopback: nothing off the node can reach these.
import { createServer, type Server } from 'node:http';
import { TwillError } from '../util/errors.js';

export interface HealthChecks {
  /** The process is making progress (the kubelet restarts the pod when this fails for long). */
  live: () => boolean;
  /** The agent can serve a CNI ADD now. */
  ready: () => boolean;
}

export async function startHealthServer(port: number, checks: HealthChecks, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const check = path === '/healthz' ? checks.live : path === '/readyz' ? checks.ready : undefined;
    if (!check || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /healthz or /readyz\n');
      return;
    }
    const ok = check();
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ready\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new TwillError('IO', `cannot listen on ${host}:${port} for health probes`, { cause: e, details: 'is another agent running, or is --health-port taken?' })));
    server.listen(port, host, () => resolve());
  });
  return server;
}
