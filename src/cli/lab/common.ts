// What every `twill lab` subcommand shares: printing, integer options, error reporting, the
// open lab, and the --name and -o options.
import { Option } from 'commander';
import { Lab } from '../../lab/lab.js';
import { resolveLab } from '../../lab/state.js';
import { describeError } from '../../util/errors.js';

export const print = (s: string) => console.log(s);

export function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`"${v}" is not an integer`);
  return n;
}

/** Runs a lab action; errors become one clear line on stderr and exit status 1. */
export function action<A extends unknown[]>(name: string, fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      console.error(`twill lab ${name}: ${describeError(e)}`);
      process.exitCode = 1;
    }
  };
}

export async function withLab(name: string | undefined, fn: (lab: Lab) => Promise<void>): Promise<void> {
  const st = await resolveLab(name);
  if (st.kubernetes) throw new Error(`lab ${st.name} is a Kubernetes lab: this command works on etcd labs; use \`twill lab kubectl -- …\``);
  const lab = await Lab.open(st);
  try {
    await fn(lab);
  } finally {
    await lab.close();
  }
}

export const nameOpt = () => new Option('--name <name>', 'lab name (default: the one lab that is up)');
export const outputOpt = (choices: string[]) => new Option('-o, --output <format>', 'output format').choices(choices);
