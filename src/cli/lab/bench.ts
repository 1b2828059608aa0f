// `twill lab bench | demo`: the throughput benchmark and what `make lab` runs.
import type { Command } from 'commander';
import { BENCH_DEFAULTS, runBench } from '../../lab/bench.js';
import { formatBench } from '../../lab/bench-report.js';
import { formatWireguardBench, runWireguardBench } from '../../lab/bench-wireguard.js';
import { labDemo } from '../../lab/demo.js';
import { isBackendName } from '../../dataplane/routing/registry.js';
import type { BackendName } from '../../model/types.js';
import { print, int, action, outputOpt } from './common.js';

export function registerBench(lab: Command): void {
  lab
    .command('bench')
    .description('pod→pod iperf3 throughput: Twill vs the same datapath wired by hand vs the raw underlay, per backend, interleaved')
    .addHelpText(
      'after',
      [
        '',
        'Each backend gets a 2-node Twill lab (<name>tv, <name>th) and the same topology wired by hand with',
        'ip/bridge/nft in namespaces twl-<name>kv-*, twl-<name>kh-* (pods wired as Twill wires them; a NAT',
        "table equivalent to Twill's natOutgoing, so both paths do conntrack; not Twill's policy table, whose",
        'cost is part of what is measured). Runs interleave twill, kernel, underlay per repeat, every second',
        'round in reverse order; medians are reported, and the floor is on the median of the per-repeat',
        'twill/kernel ratios: >= 0.97.',
        'Everything it creates is removed at the end.',
        '-o json prints one JSON array with one object per backend, in --backend order.',
      ].join('\n'),
    )
    .option('--backend <name...>', 'vxlan and/or host-gw; or wireguard alone: encrypted vs plain vxlan throughput, CPU per Gbit, and 20 node joins (tunnel up after the node record)', BENCH_DEFAULTS.backends)
    .option('--joins <n>', 'wireguard: node joins to time', int, 20)
    .option('--duration <seconds>', 'length of each iperf3 run', int, BENCH_DEFAULTS.durationSeconds)
    .option('--repeats <n>', 'runs per path (medians are reported)', int, BENCH_DEFAULTS.repeats)
    .option('--name <name>', 'prefix of the labs and namespaces it creates (≤10 chars); they are removed at the end', BENCH_DEFAULTS.name)
    .addOption(outputOpt(['text', 'json']).default('text'))
    .action(
      action('bench', async (o: { backend: string[]; duration: number; repeats: number; name: string; joins: number; output: 'text' | 'json' }) => {
        if (o.backend.includes('wireguard')) {
          if (o.backend.length > 1) throw new Error('--backend wireguard runs alone (it compares itself with vxlan in the same run)');
          const r = await runWireguardBench({ name: o.name, durationSeconds: o.duration, repeats: o.repeats, joins: o.joins }, (l) => console.error(l));
          print(o.output === 'json' ? JSON.stringify(r, null, 1) : formatWireguardBench(r));
          if (!r.meetsFloor) process.exitCode = 1;
          return;
        }
        for (const b of o.backend) if (!isBackendName(b)) throw new Error(`--backend must be vxlan or host-gw, got "${b}"`);
        // Progress goes to stderr so that `-o json` keeps stdout machine-readable.
        const results = await runBench({ name: o.name, backends: o.backend as BackendName[], durationSeconds: o.duration, repeats: o.repeats }, (l) => console.error(l));
        // -o json: one JSON array, one object per mode, in the order of --backend.
        print(o.output === 'json' ? JSON.stringify(results, null, 1) : formatBench(results));
        if (results.some((r) => !r.meetsFloor) && o.output === 'text') print('a mode is below the floor: see the parity lines above, then `twill lab bench -o json` for every sample');
      }),
    );

  lab
    .command('demo')
    .description('what `make lab` runs: a 3-node lab, sample pods, a probe of every path')
    .option('--name <name>', 'lab name', 'lab')
    .action(
      action('demo', async (o: { name: string }) => {
        const ok = await labDemo(print, o.name);
        process.exitCode = ok ? 0 : 1;
      }),
    );
}
