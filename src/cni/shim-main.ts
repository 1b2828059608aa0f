// Entry point of twill-cni (bundled to dist/twill-cni.js, launched by bin/twill-cni).
import { existsSync } from 'node:fs';
import { MAX_STDIN_BYTES } from './protocol.js';
import { fdSink, readStdin } from './shim-io.js';
import { runShim } from './shim.js';

const stdin = await readStdin(MAX_STDIN_BYTES + 1);
process.exitCode = await runShim({
  env: process.env,
  stdin: stdin.bytes,
  ...(stdin.error === undefined ? {} : { stdinError: stdin.error }),
  stdout: fdSink(1),
  stderr: fdSink(2),
  netnsExists: existsSync,
});
