// A small JSON client for the agent's unix-socket API (used by the CLI and the lab).
import { request } from 'node:http';
import { TwillError, type ErrorCode } from '../util/errors.js';

export async function agentRequest<T>(socketPath: string, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 30_000): Promise<T> {
  // node:http treats an empty socketPath as "no socket" and would connect to localhost:80.
  if (!socketPath.startsWith('/')) {
    throw new TwillError('CONFIG_INVALID', `the agent socket must be an absolute path (e.g. /run/twill/agent.sock), got ${JSON.stringify(socketPath)}`);
  }
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise<T>((resolve, reject) => {
    const req = request(
      { socketPath, path, method, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch (e) {
            reject(new TwillError('DECODE', `agent at ${socketPath} sent a reply that is not JSON`, { cause: e }));
            return;
          }
          if ((res.statusCode ?? 500) >= 400) {
            const err = (parsed as { error?: { code?: ErrorCode; message?: string } }).error;
            reject(new TwillError(err?.code ?? 'INTERNAL', err?.message ?? `agent answered HTTP ${res.statusCode}`));
            return;
          }
          resolve(parsed as T);
        });
      },
    );
    req.on('timeout', () => req.destroy(new TwillError('TIMEOUT', `agent at ${socketPath} did not answer within ${timeoutMs} ms`)));
    req.on('error', (e) => {
      if (e instanceof TwillError) reject(e);
      else reject(new TwillError('AGENT_UNREACHABLE', `cannot reach the agent at ${socketPath} (is \`twill agent\` running?)`, { cause: e }));
    });
    req.end(payload);
  });
}
