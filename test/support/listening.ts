// Waiting for a server started in the background (iperf3 -s) to listen, instead of sleeping a
// fixed time that a slow or busy machine may not honour.
import { run } from '../../src/dataplane/kernel/exec.js';

/** Resolves once something in `netns` listens on TCP `port`; throws after `timeoutMs`. */
export async function waitTcpListening(netns: string, port: number, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { stdout } = await run('ip', ['netns', 'exec', netns, 'ss', '-Hltn', `sport = :${port}`]);
    if (stdout.trim() !== '') return;
    if (Date.now() > until) throw new Error(`nothing listens on TCP port ${port} in ${netns} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
