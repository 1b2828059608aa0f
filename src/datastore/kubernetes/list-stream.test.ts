import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { isTwillError } from '../../util/errors.js';
import { KubeClient } from './client.js';
import { ListScanner } from './list-stream.js';

/** Feeds `text` to a scanner cut at the given offsets; returns the items and the rest. */
function scan(text: string, cuts: number[]): { items: unknown[]; head: Record<string, unknown> } {
  const buf = Buffer.from(text);
  const items: unknown[] = [];
  const s = new ListScanner((t) => items.push(JSON.parse(t)));
  let from = 0;
  for (const c of [...cuts, buf.length]) {
    s.push(buf.subarray(from, c));
    from = c;
  }
  return { items, head: s.end() };
}

describe('list stream', () => {
  // Strings that look like structure, escapes (an escaped quote, a string ending in an escaped
  // backslash), non-ASCII text, nested "items" keys and a key "items" that is a value elsewhere.
  const list = {
    kind: 'PodList',
    metadata: { resourceVersion: '42', continue: 'tok"en]', note: '"items":[{', nested: { items: [1, 2] } },
    items: [{ a: '}\\"]', b: 'ends in a backslash \\' }, { items: [{ z: [[]] }], c: 'ü → 网络', d: null }, []],
    after: ['items', { items: [3] }],
  };
  const text = JSON.stringify(list);

  it('hands over every item and keeps the rest, wherever the chunks are cut', () => {
    const want = { items: list.items, head: { ...list, items: [] } };
    for (let a = 0; a <= text.length; a++) {
      for (let b = a; b <= text.length; b += 5) assert.deepEqual(scan(text, [a, b]), want, `cut at ${a} and ${b}`);
    }
  });

  it('cut byte by byte, and with whitespace as the apiserver may send it', () => {
    const pretty = JSON.stringify(list, null, 2);
    assert.deepEqual(scan(pretty, Array.from({ length: Buffer.byteLength(pretty) }, (_, i) => i)), { items: list.items, head: { ...list, items: [] } });
  });

  it("cuts each item's metadata.managedFields to 0, wherever the chunks are cut, and nothing else", () => {
    const mf = [{ manager: 'kubectl', fieldsV1: { 'f:spec': { 'k:{"port":80}': { '.': {} } }, 'f:x': ['"]}', '\\'] } }];
    const managed = {
      kind: 'ServiceList',
      metadata: { resourceVersion: '7', managedFields: [{ top: 'level' }] },
      items: [
        { metadata: { name: 'a', managedFields: mf, labels: { l: '[' } }, spec: { managedFields: [1] } },
        { metadata: { managedFields: mf }, spec: { template: { metadata: { managedFields: [2] } } } },
        { metadata: { name: 'null', managedFields: null } },
        { status: { metadata: { managedFields: [3] } }, metadata: { name: 'last', annotations: { managedFields: '[4]' }, managedFields: [] } },
      ],
    };
    const t = JSON.stringify(managed);
    const want = {
      items: [
        { metadata: { name: 'a', managedFields: 0, labels: { l: '[' } }, spec: { managedFields: [1] } },
        { metadata: { managedFields: 0 }, spec: { template: { metadata: { managedFields: [2] } } } },
        { metadata: { name: 'null', managedFields: null } },
        { status: { metadata: { managedFields: [3] } }, metadata: { name: 'last', annotations: { managedFields: '[4]' }, managedFields: 0 } },
      ],
      head: { ...managed, items: [] },
    };
    const byteLen = Buffer.byteLength(t);
    assert.deepEqual(scan(t, []), want);
    for (let a = 0; a <= byteLen; a++) {
      // A key cut across chunks is kept as it was (parsed as before); every other cut gives the cut item.
      const got = scan(t, [a]);
      assert.deepEqual(got.head, want.head, `cut at ${a}`);
      got.items.forEach((item, k) => {
        const mfNow = (item as { metadata: { managedFields: unknown } }).metadata.managedFields;
        const orig = managed.items[k]!.metadata.managedFields;
        assert.ok(mfNow === (want.items[k] as { metadata: { managedFields: unknown } }).metadata.managedFields || JSON.stringify(mfNow) === JSON.stringify(orig), `cut at ${a}, item ${k}`);
        assert.deepEqual({ ...(item as object), metadata: { ...(item as { metadata: object }).metadata, managedFields: 'x' } }, { ...want.items[k], metadata: { ...want.items[k]!.metadata, managedFields: 'x' } }, `cut at ${a}, item ${k}`);
      });
    }
    // Cut byte by byte: the keys are all split, so nothing is cut, and the items are whole.
    assert.deepEqual(scan(t, Array.from({ length: byteLen }, (_, i) => i)).items, managed.items);
  });

  it('an empty or missing items array', () => {
    assert.deepEqual(scan('{"kind":"L","items":[]}', []), { items: [], head: { kind: 'L', items: [] } });
    assert.deepEqual(scan('{"kind":"L","items":null}', []), { items: [], head: { kind: 'L', items: null } });
  });

  it('an item that is not an object is an error (Kubernetes lists hold objects)', () => {
    assert.throws(() => scan('{"items":[{"a":1}, 7]}', []), /not an object/);
    assert.throws(() => scan('{"items":["x"]}', []), /not an object/);
  });

  it('an answer cut off in the middle is an error, not a shorter list', () => {
    const s = new ListScanner(() => undefined);
    s.push(Buffer.from(text.slice(0, 60)));
    assert.throws(() => s.end(), /ended in the middle/);
  });
});

describe('KubeClient.requestList', () => {
  async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; client: KubeClient }> {
    const server = createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    return { server, client: new KubeClient({ server: `http://127.0.0.1:${port}`, source: 'test' }) };
  }

  it('reads a gzip answer item by item and counts the bytes on the wire', async () => {
    const body = gzipSync(JSON.stringify({ kind: 'PodList', metadata: { resourceVersion: '9' }, items: Array.from({ length: 2000 }, (_, i) => ({ metadata: { name: `p-${i}` } })) }));
    const { server, client } = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(body);
    });
    try {
      const names: string[] = [];
      const head = await client.requestList<{ metadata: { name: string } }>('/api/v1/pods', { what: 'listing pods' }, (o) => names.push(o.metadata.name));
      assert.equal(names.length, 2000);
      assert.equal(names[1999], 'p-1999');
      assert.equal(head.metadata?.resourceVersion, '9');
      assert.equal(client.traffic.bytesIn, body.length);
    } finally {
      client.close();
      server.close();
    }
  });

  it('an error answer is an ApiError; a body that breaks off is a DATASTORE error', async () => {
    const { server, client } = await serve((req, res) => {
      if (req.url === '/forbidden') {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', code: 403, message: 'pods is forbidden' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"kind":"PodList","items":[{"a":1},');
      setTimeout(() => res.destroy(), 20);
    });
    try {
      await assert.rejects(client.requestList('/forbidden', { what: 'listing pods' }, () => undefined), (e: unknown) => isTwillError(e, 'DATASTORE') && /403/.test(String(e)));
      await assert.rejects(client.requestList('/cut', { what: 'listing pods' }, () => undefined), (e: unknown) => isTwillError(e, 'DATASTORE') && /broke off/.test(String(e)));
    } finally {
      client.close();
      server.close();
    }
  });
});
