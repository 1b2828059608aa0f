import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NftFake } from './nft-fake.js';
import { parseNft } from './nft-parse.js';
import { crossing, tracePacket, type Packet } from './tracer.js';

const RULESET = `
table inet t {
	counter hits {
	}
	map m {
		type ipv4_addr . inet_proto . inet_service : verdict
		flags interval
		elements = {
			10.0.0.0/24 . tcp . 80-90 : goto allow,
			10.0.1.1-10.0.1.3 . 0-255 . 0-65535 : jump sub,
			10.0.2.0/24 . udp . 53 : drop
		}
	}
	set eps {
		type ifname . ipv4_addr
		elements = { "veth1" . 10.9.0.1 }
	}
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		iifname "veth*" iifname . ip saddr != @eps counter name "hits" drop
	}
	chain fwd {
		type filter hook forward priority filter; policy accept;
		ct state established,related accept
		ip6 saddr fd00::/8 drop
		jump lookup
		ip daddr 10.0.1.2 drop
	}
	chain late {
		type filter hook forward priority 10; policy drop;
		ip daddr { 10.0.0.5, 10.0.1.1-10.0.1.3 } accept
	}
	chain lookup {
		ip daddr . meta l4proto . th dport vmap @m
	}
	chain allow {
		counter name "hits"
	}
	chain sub {
		return
	}
}
`;

function fake(): NftFake {
  const f = new NftFake();
  f.apply(RULESET);
  return f;
}

const pkt = (daddr: string, l4proto = 6, dport = 80, extra: Partial<Packet> = {}): Packet => ({ saddr: '10.9.0.1', daddr, l4proto, dport, iifname: 'eth0', oifname: 'eth1', ...extra });

test('goto returns to the caller of the chain that jumped; jump returns to the jumper', () => {
  const f = fake();
  // lookup → goto allow → end of allow returns to fwd after `jump lookup` → next base chain.
  const a = tracePacket(f, pkt('10.0.0.5'), ['forward']);
  assert.deepEqual(a.path, ['fwd', 'lookup', 'allow', 'late']);
  assert.equal(a.verdict, 'accept');
  assert.deepEqual(a.counters, ['hits']);
  // lookup → jump sub → return to lookup → end of lookup → fwd continues: `ip daddr 10.0.1.2 drop`.
  const b = tracePacket(f, pkt('10.0.1.2', 1, 0), ['forward']);
  assert.deepEqual(b.path, ['fwd', 'lookup', 'sub']);
  assert.equal(b.verdict, 'drop');
  assert.equal(b.decidedBy, 'fwd: ip daddr 10.0.1.2 drop');
});

test('interval concatenations: every field must fall in its range; misses fall through', () => {
  const f = fake();
  assert.equal(tracePacket(f, pkt('10.0.0.9', 6, 91), ['forward']).decidedBy, 'late: policy drop');
  assert.equal(tracePacket(f, pkt('10.0.0.9', 17, 80), ['forward']).decidedBy, 'late: policy drop');
  assert.equal(tracePacket(f, pkt('10.0.2.7', 17, 53), ['forward']).decidedBy, 'lookup: ip daddr . meta l4proto . th dport vmap @m');
  assert.equal(tracePacket(f, pkt('10.0.2.7', 17, 53), ['forward']).verdict, 'drop');
  assert.equal(tracePacket(f, pkt('10.0.1.3', 132, 9), ['forward']).verdict, 'accept', 'anonymous interval set in `late`');
});

test('base chains run in priority order and each may drop; ct established is accepted early', () => {
  const f = fake();
  assert.equal(tracePacket(f, pkt('10.7.7.7'), ['forward']).verdict, 'drop', 'late has policy drop');
  const est = tracePacket(f, pkt('10.7.7.7', 6, 80, { ct: 'established' }), ['forward']);
  assert.deepEqual(est.path, ['fwd', 'late']);
  assert.equal(est.verdict, 'drop', 'accept in one base chain does not skip the next');
});

test('negated concatenated lookup with a wildcard interface; ip selectors skip IPv6 packets', () => {
  const f = fake();
  assert.equal(tracePacket(f, pkt('10.0.0.5', 6, 80, { iifname: 'veth1' }), ['prerouting']).verdict, 'accept');
  const spoof = tracePacket(f, pkt('10.0.0.5', 6, 80, { iifname: 'veth1', saddr: '10.9.0.2' }), ['prerouting']);
  assert.equal(spoof.verdict, 'drop');
  assert.deepEqual(spoof.counters, ['hits']);
  assert.equal(tracePacket(f, pkt('10.0.0.5', 6, 80, { iifname: 'eth0', saddr: '10.9.0.2' }), ['prerouting']).verdict, 'accept');
  const v6 = tracePacket(f, { saddr: 'fd00::1', daddr: 'fd00::2', l4proto: 6, dport: 80, iifname: 'veth1' }, ['prerouting', 'forward']);
  assert.equal(v6.decidedBy, 'fwd: ip6 saddr fd00::/8 drop', 'the IPv4 anti-spoofing rule does not apply to IPv6');
});

test('the fake applies all or nothing and refuses what the kernel would (or should)', () => {
  const f = fake();
  const before = f.dump('t');
  const refuse = (script: string, why: RegExp): void => {
    assert.throws(() => f.apply(script), why, script);
    assert.equal(f.dump('t'), before, 'a failed transaction changes nothing');
  };
  refuse('add element inet t m { 10.0.0.0/25 . 0-255 . 0-65535 : goto allow }', /overlaps/);
  refuse('add element inet t m { 10.0.0.0/24 . tcp . 80-90 : goto sub }', /another value/);
  refuse('delete element inet t m { 10.0.0.0/24 . tcp . 80 }', /is not in m/);
  refuse('add element inet t m { 10.5.0.0/24 . tcp . 1 : goto nowhere }', /chain nowhere does not exist/);
  refuse('delete chain inet t lookup', /a rule in chain fwd still refers/);
  refuse('delete chain inet t allow', /element of map m/);
  refuse('delete map inet t m', /rule in chain lookup/);
  refuse('delete counter inet t hits', /still uses it/);
  refuse('add rule inet t fwd ip daddr vmap @eps', /not a verdict map/);
  refuse('add rule inet t fwd ip daddr @nope accept', /set nope does not exist \(used by a rule in fwd\)/);
  refuse('add element inet t m { 10.6.0.0/24 . tcp . 1 : goto allow }\nadd rule inet t nochain accept', /chain nochain does not exist/);
  // Order matters, as in the kernel: delete the map, then the chain its elements name.
  f.apply('flush chain inet t lookup\ndelete map inet t m\ndelete chain inet t allow\ndelete chain inet t sub');
  assert.equal(f.table('t').sets.has('m'), false);
});

test('parse errors name the line; unsupported syntax is refused, never skipped', () => {
  assert.throws(() => parseNft('add rule inet t c tcp flags syn accept'), /line 1: unsupported expression/);
  assert.throws(() => parseNft('table ip t {\n}'), /only the inet family/);
  assert.throws(() => parseNft('table inet t {\n\tchain c {\n\t\tip daddr 10.0.0.300 accept\n\t}\n}'), /line 3: cannot read value/);
  const cmds = parseNft('add chain inet t c { type filter hook input priority -5; policy drop; comment "x" ; }');
  assert.deepEqual(cmds[0], { op: 'add', obj: 'chain', table: 't', name: 'c', spec: { hook: { type: 'filter', hook: 'input', priority: -5, policy: 'drop' }, comment: 'x' }, rules: [] });
});

test('crossing: which hooks and interfaces a packet meets on one node', () => {
  assert.deepEqual(crossing({ srcIface: 'twla', dstIface: 'twlb' }), { hooks: ['prerouting', 'forward', 'postrouting'], iifname: 'twla', oifname: 'twlb' });
  assert.deepEqual(crossing({ srcIface: 'twla' }), { hooks: ['prerouting', 'forward', 'postrouting'], iifname: 'twla', oifname: 'eth0' });
  assert.deepEqual(crossing({ fromHost: true, dstIface: 'twlb' }), { hooks: ['output', 'postrouting'], oifname: 'twlb' });
  assert.deepEqual(crossing({ toHost: true, srcIface: 'twla' }), { hooks: ['prerouting', 'input'], iifname: 'twla' });
  assert.equal(crossing({}), undefined);
});
