import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConntrack } from './service-probe.js';

test('conntrack -L lines give each connection\'s translated destination, keyed by source and port', () => {
  const text = [
    'tcp      6 118 TIME_WAIT src=10.244.1.5 dst=10.96.0.20 sport=40112 dport=80 src=10.244.2.7 dst=10.244.1.5 sport=8080 dport=40112 [ASSURED] mark=0 use=1',
    'tcp      6 118 TIME_WAIT src=10.244.1.5 dst=10.96.0.20 sport=40114 dport=80 src=10.244.1.5 dst=10.244.1.1 sport=8080 dport=40114 [ASSURED] mark=0 use=1',
    'conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.',
  ].join('\n');
  assert.deepEqual([...parseConntrack(text)], [['10.244.1.5 40112', '10.244.2.7'], ['10.244.1.5 40114', '10.244.1.5']]);
});
