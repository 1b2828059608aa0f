import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentCatches, silentCatchesIn } from './silent-catches.js';

test('every silent catch under src/ says why ignoring is right (// why: …)', () => {
  const found = silentCatches('src');
  assert.deepEqual(found.map((c) => `${c.file}:${c.line} ${c.text}`), [], 'add a `// why:` comment, or log, report or rethrow the error');
});

test('the scanner finds silent catches and accepts loud or explained ones', () => {
  const src = `
try { a(); } catch {}
try { a(); } catch (e) { return undefined; }
p.catch(() => undefined);
p.catch(() => {});
try { a(); } catch (e) { if (code(e) !== 'ENOENT') throw e; }
try { a(); } catch { log.warn('x'); }
p.catch((e) => this.log.error('y', { e }));
p.catch((e) => log.debug('z', { e }));
p.catch(() => undefined); // why: read-only probe
try { a(); } catch {
  // why: already gone
}
`;
  assert.deepEqual(silentCatchesIn('x.ts', src).map((c) => c.line), [2, 3, 4, 5, 9]);
});
