// The protobuf decoders against a real kube-apiserver's answers (testdata/, captured by
// scripts/capture-proto-fixtures.ts): each item decodes to exactly what decodeObject makes of the
// JSON answer for the same object: fields, key order and shared values.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isTwillError } from '../../../util/errors.js';
import { decodeObject } from '../resources.js';
import { decodeProtobufList, unwrap } from './lists.js';
import { ProtoReader, WIRE_FIXED32, WIRE_FIXED64, tag } from './reader.js';
import { decodeStatus } from './status.js';

type Obj = Record<string, unknown>;
const fixture = (name: string): Buffer => readFileSync(new URL(`./testdata/${name}`, import.meta.url));

function viaJson(kind: 'Service' | 'EndpointSlice', name: string): { items: Obj[]; metadata: Obj } {
  const list = JSON.parse(fixture(`${name}.json`).toString('utf8')) as { items: Obj[]; metadata: Obj };
  return { items: list.items.map((o) => decodeObject(kind, o) as unknown as Obj), metadata: list.metadata };
}

function viaProto(kind: 'Service' | 'EndpointSlice', name: string): { items: Obj[]; metadata: Obj } {
  const items: Obj[] = [];
  const metadata = decodeProtobufList(kind, fixture(`${name}.pb`), (o) => items.push(o as unknown as Obj)) as Obj;
  return { items, metadata };
}

/** Every object's keys, in order, all the way down (JSON.stringify would drop `name: undefined`). */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shape);
  if (v && typeof v === 'object') return Object.entries(v).map(([k, x]) => [k, shape(x)]);
  return v;
}

for (const [kind, name] of [['Service', 'services'], ['EndpointSlice', 'endpointslices']] as const) {
  describe(`protobuf ${name} from a real kube-apiserver`, () => {
    it('decode to what decodeObject makes of the JSON answer, key order included', () => {
      const json = viaJson(kind, name);
      const proto = viaProto(kind, name);
      assert.ok(json.items.length >= 5, 'the fixture holds the objects');
      assert.deepStrictEqual(proto.items, json.items);
      assert.deepStrictEqual(shape(proto.items), shape(json.items));
    });

    it('share what decodeObject shares', () => {
      const json = viaJson(kind, name).items;
      const proto = viaProto(kind, name).items;
      let shared = 0;
      const same = (a: unknown, b: unknown): void => {
        assert.equal(a, b);
        shared++;
      };
      json.forEach((j, i) => {
        const p = proto[i]!;
        const jm = j['metadata'] as Obj;
        if (jm['labels']) same((p['metadata'] as Obj)['labels'], jm['labels']);
        if (kind === 'Service') {
          const js = j['spec'] as Obj;
          if (js['ports']) same((p['spec'] as Obj)['ports'], js['ports']);
        } else {
          if (j['ports']) same(p['ports'], j['ports']);
          (j['endpoints'] as Obj[]).forEach((e, k) => {
            if (e['conditions']) same((p['endpoints'] as Obj[])[k]!['conditions'], e['conditions']);
          });
        }
      });
      assert.ok(shared > 5, `shared values were compared (${shared})`);
    });

    it('read the list metadata: resourceVersion and the continue token of a first page', () => {
      const full = viaProto(kind, name);
      assert.equal(full.metadata['resourceVersion'], viaJson(kind, name).metadata['resourceVersion']);
      assert.equal(full.metadata['continue'], undefined);
      const page = viaProto(kind, `${name}-page`);
      const pageJson = viaJson(kind, `${name}-page`);
      assert.equal(page.items.length, 2);
      assert.deepStrictEqual(page.items, pageJson.items);
      assert.equal(page.metadata['resourceVersion'], pageJson.metadata['resourceVersion']);
      assert.ok(typeof pageJson.metadata['continue'] === 'string' && pageJson.metadata['continue'].length > 10);
      assert.equal(page.metadata['continue'], pageJson.metadata['continue']);
    });
  });
}

describe('protobuf reading', () => {
  it('refuses an answer without the envelope, a cut answer, a field past its message', () => {
    const body = fixture('services.pb');
    const decodeError = (b: Buffer): void => assert.throws(() => decodeProtobufList('Service', b, () => undefined), (e) => isTwillError(e, 'DECODE'));
    decodeError(Buffer.from('{"kind":"ServiceList"}'));
    decodeError(body.subarray(0, body.length - 7));
    // The first item's length prefix made one longer than the bytes it holds: it eats the next key.
    const raw = Buffer.from(unwrap(body));
    const r = new ProtoReader(raw);
    for (let k = r.key(r.end); k !== 0; k = r.key(r.end)) {
      if (k === tag(2, 2)) break;
      r.skip(k);
    }
    const lenAt = r.pos;
    const n = r.varint();
    const inner = new ProtoReader(raw, r.pos, r.pos + n);
    const metaLenAt = inner.pos + 1; // metadata (field 1) key is one byte
    inner.key(inner.end);
    const metaLen = inner.varint();
    assert.ok(metaLen < 127 * 128 && lenAt >= 0);
    const bumped = Buffer.from(raw);
    if (bumped[metaLenAt]! < 0x7f) bumped[metaLenAt]! += 1;
    else bumped[metaLenAt + 1]! += 1;
    const env = Buffer.concat([Buffer.from('k8s\0', 'latin1'), Buffer.from([0x12]), varint(bumped.length), bumped]);
    decodeError(env);
  });

  it('reads varints up to 64 bits, negative int32s, and skips fixed-size fields', () => {
    const b = Buffer.concat([varint(300), varint(2 ** 40 + 5), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), varint(tag(9, WIRE_FIXED32)), Buffer.alloc(4), varint(tag(9, WIRE_FIXED64)), Buffer.alloc(8), varint(7)]);
    const r = new ProtoReader(b);
    assert.equal(r.varint(), 300);
    assert.equal(r.varint(), 2 ** 40 + 5);
    assert.equal(r.int32(), -1);
    r.skip(r.key(r.end));
    r.skip(r.key(r.end));
    assert.equal(r.varint(), 7);
    assert.equal(r.key(r.end), 0);
  });

  it('reads an error Status sent in protobuf', () => {
    const str = (f: number, s: string): Buffer => Buffer.concat([varint(tag(f, 2)), varint(Buffer.byteLength(s)), Buffer.from(s)]);
    const details = str(1, 'web');
    const st = Buffer.concat([str(2, 'Failure'), str(3, 'the continue token expired'), str(4, 'Expired'), varint(tag(5, 2)), varint(details.length), details, varint(tag(6, 0)), varint(410)]);
    const env = Buffer.concat([Buffer.from('k8s\0', 'latin1'), Buffer.from([0x12]), varint(st.length), st]);
    assert.deepStrictEqual(decodeStatus(env), { kind: 'Status', status: 'Failure', message: 'the continue token expired', reason: 'Expired', details: { name: 'web' }, code: 410 });
    assert.equal(decodeStatus(Buffer.from('not protobuf')), undefined);
  });
});

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}
