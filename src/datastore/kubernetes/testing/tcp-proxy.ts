// A loopback TCP relay in front of a server, so a test can take the server away from its clients
// (every connection cut, new ones refused) and bring it back, without restarting a process that
// takes seconds to start. The server itself stays real.
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly targetPort: number,
    private readonly host = '127.0.0.1',
  ) {}

  async start(): Promise<void> {
    const srv = createServer((client) => {
      const upstream = createConnection({ host: this.host, port: this.targetPort });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((res, rej) => {
      srv.once('error', rej);
      srv.listen(this.port, this.host, () => res());
    });
    const a = srv.address();
    if (typeof a === 'object' && a) this.port = a.port;
    this.server = srv;
  }

  /** Cuts every connection and refuses new ones until start() (same port). */
  async stop(): Promise<void> {
    const srv = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }

  async outage(ms: number): Promise<void> {
    await this.stop();
    await new Promise((r) => setTimeout(r, ms));
    await this.start();
  }
}
