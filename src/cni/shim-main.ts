// Entry point of twill-cni (bundled to dist/twill-cni.js, launched by bin/twill-cni).
import { nodeFs } from './node-fs.js';
import { MAX_STDIN_BYTES } from './protocol.js';
import { fdSink, readStdin } from './shim-io.js';
import { runShim } from './shim.js';

async function main(): Promise<number> {
  const fs = await nodeFs();
  const stdin = await readStdin(fs, MAX_STDIN_BYTES + 1);
  return runShim({
    env: process.env,
    stdin: stdin.bytes,
    ...(stdin.error === undefined ? {} : { stdinError: stdin.error }),
    stdout: fdSink(fs, 1),
    stderr: fdSink(fs, 2),
    netnsExists: (p) => fs.existsSync(p),
  });
}

// runShim turns every error into CNI error JSON; this catch is for bugs outside it.
main().then(
  (status) => (process.exitCode = status),
  (e: unknown) => {
    process.stderr.write(`twill-cni: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
