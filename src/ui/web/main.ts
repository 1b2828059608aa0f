/// <reference lib="dom" />
// The page's script (bundled by esbuild into dist/ui/app.js): a live service map (SVG), the flow
// table with observe's filters (the same filter code as the CLI), and a policy view.
import { matchesFilter, parseEndSelector, type FlowFilter } from '../../flows/filter.js';
import { decisionOf, endName, shortTime, verdictCell } from '../../flows/format.js';
import type { FlowRecord } from '../../flows/record.js';
import { layoutMap, type MapModel } from './map.js';
import type { PodView } from '../server.js';


const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const records: FlowRecord[] = [];
let pods: PodView[] = [];
let nodes: string[] = [];
let cursor = 0;

async function getJson<T>(path: string, init?: RequestInit): Promise<T> {
  const r = await fetch(path, init);
  const v = (await r.json()) as T & { error?: { message: string } };
  if (!r.ok) throw new Error(v.error?.message ?? `HTTP ${r.status}`);
  return v;
}

function currentFilter(): FlowFilter {
  const f: FlowFilter = {};
  const val = (id: string): string => ($<HTMLInputElement>(id).value ?? '').trim();
  const err = $('f-error');
  err.textContent = '';
  try {
    if (val('f-from')) f.from = val('f-from').split(/\s+/).map(parseEndSelector);
    if (val('f-to')) f.to = val('f-to').split(/\s+/).map(parseEndSelector);
  } catch (e) {
    err.textContent = (e as Error).message;
  }
  if (val('f-verdict')) f.verdict = [val('f-verdict') as 'FORWARDED' | 'DROPPED'];
  if (val('f-port') && Number.isInteger(Number(val('f-port')))) f.port = [Number(val('f-port'))];
  if (val('f-protocol')) f.protocol = [val('f-protocol')];
  if (val('f-policy')) f.policy = [val('f-policy')];
  if (val('f-node')) f.node = [val('f-node')];
  return f;
}

function cell(tr: HTMLTableRowElement, text: string, cls?: string): void {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
}

function renderTable(): void {
  const f = currentFilter();
  const body = $('flows').querySelector('tbody')!;
  const shown = records.filter((r) => matchesFilter(f, r)).slice(-500).reverse();
  body.replaceChildren(
    ...shown.map((r) => {
      const tr = document.createElement('tr');
      tr.dataset['verdict'] = r.verdict;
      tr.dataset['id'] = String(r.id);
      const p = r.l4.TCP ?? r.l4.UDP ?? r.l4.SCTP;
      cell(tr, shortTime(r.time));
      cell(tr, r.node_name);
      cell(tr, `${endName(r.source)}${p ? `:${p.source_port}` : ''}`);
      cell(tr, `${endName(r.destination)}${p ? `:${p.destination_port}` : ''}`);
      cell(tr, `${r.traffic_direction.toLowerCase()} ${r.event}`);
      cell(tr, verdictCell(r), r.verdict);
      cell(tr, decisionOf(r));
      tr.addEventListener('click', () => void explainFlow(r));
      return tr;
    }),
  );
  const dropped = records.filter((r) => r.verdict === 'DROPPED').length;
  $('summary').textContent = `${nodes.length} nodes, ${pods.length} pods, ${records.length} flows (${dropped} dropped), ${shown.length} shown`;
}

function renderMap(): void {
  const model: MapModel = layoutMap(nodes, pods, records, Date.now(), 30_000);
  const svg = $('map-svg') as unknown as SVGSVGElement;
  const NS = 'http://www.w3.org/2000/svg';
  const el = (name: string, attrs: Record<string, string | number>, text?: string): SVGElement => {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const children: SVGElement[] = [];
  svg.setAttribute('viewBox', `0 0 ${model.width} ${model.height}`);
  // Natural size (no zoom for small clusters), shrunk only when wider than the panel.
  svg.style.width = `min(100%, ${model.width}px)`;
  svg.style.height = 'auto';
  for (const n of model.nodes) {
    children.push(el('rect', { x: n.x, y: n.y, width: n.w, height: n.h, rx: 8, fill: '#f0f3f8', stroke: '#b8c0cf', 'data-node': n.name }));
    children.push(el('text', { x: n.x + 8, y: n.y + 16, 'font-size': 12, 'font-weight': 600, fill: '#56607a' }, n.name));
  }
  for (const e of model.edges) {
    const g = el('path', { d: e.path, fill: 'none', stroke: e.verdict === 'DROPPED' ? '#c0392b' : '#1e8449', 'stroke-width': e.width, 'stroke-opacity': 0.75, 'data-edge': `${e.from}>${e.to}`, 'data-verdict': e.verdict });
    g.appendChild(el('title', {}, `${e.from} → ${e.to}: ${e.count} ${e.verdict.toLowerCase()} flow(s) in 30 s`));
    children.push(g);
  }
  for (const p of model.pods) {
    const g = el('g', { 'data-pod': p.key, cursor: 'pointer' });
    g.appendChild(el('circle', { cx: p.x, cy: p.y, r: 9, fill: p.world ? '#fff' : '#4a78c2', stroke: '#2c4a80' }));
    g.appendChild(el('text', { x: p.x + 14, y: p.y + 4, 'font-size': 11 }, p.label));
    g.addEventListener('click', () => showPod(p.key));
    children.push(g);
  }
  svg.replaceChildren(...children);
}

function policyList(title: string, list: string[]): string {
  return `${title}: ${list.length ? list.join(', ') : 'none (not isolated)'}`;
}

function showPod(key: string): void {
  const p = pods.find((x) => x.pod === key);
  const box = $('policy-body');
  if (!p) {
    box.textContent = `${key}: not a pod of the cluster`;
    return;
  }
  const pre = document.createElement('pre');
  pre.textContent = [`pod ${p.pod} on ${p.node} (${p.ips.join(', ')})`, `labels: ${Object.entries(p.labels).map(([k, v]) => `${k}=${v}`).join(', ') || 'none'}`, policyList('ingress policies', p.ingress), policyList('egress policies', p.egress)].join('\n');
  box.replaceChildren(pre);
}

async function explainFlow(r: FlowRecord): Promise<void> {
  const p = r.l4.TCP ?? r.l4.UDP ?? r.l4.SCTP;
  const protocol = r.l4.TCP ? 'tcp' : r.l4.UDP ? 'udp' : r.l4.SCTP ? 'sctp' : 'icmp';
  const end = (e: FlowRecord['source']): string => (e.kind === 'pod' ? `${e.namespace}/${e.pod_name}` : e.ip);
  const box = $('policy-body');
  const pre = document.createElement('pre');
  pre.id = 'explain';
  try {
    const v = await getJson<{ text: string }>('/api/explain', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from: end(r.source), to: end(r.destination), protocol, ...(p ? { port: p.destination_port } : {}) }) });
    pre.textContent = `flow ${r.id} (${r.verdict}${r.kernel_rule ? `, kernel rule "${r.kernel_rule}"` : ''})\n\n${v.text}`;
  } catch (e) {
    pre.textContent = `cannot explain: ${(e as Error).message}`;
  }
  box.replaceChildren(pre);
}

async function pollFlows(): Promise<void> {
  for (;;) {
    try {
      const r = await getJson<{ records: FlowRecord[]; cursor: number }>(`/api/flows?after=${cursor}&wait=1000`);
      cursor = r.cursor;
      records.push(...r.records);
      if (records.length > 5000) records.splice(0, records.length - 5000);
      if (r.records.length) {
        renderTable();
        renderMap();
      }
    } catch {
      // why: the page polls: a failed poll is retried in a second
      await new Promise((res) => setTimeout(res, 1000));
    }
  }
}

async function pollPods(): Promise<void> {
  for (;;) {
    try {
      const r = await getJson<{ nodes: string[]; pods: PodView[] }>('/api/pods');
      nodes = r.nodes;
      pods = r.pods;
      const notes = await getJson<{ notes: string[] }>('/api/notes');
      $('notes').textContent = notes.notes.slice(-1)[0] ?? '';
      renderMap();
      renderTable();
    } catch (e) {
      $('summary').textContent = `cannot read the cluster: ${(e as Error).message}`;
    }
    await new Promise((res) => setTimeout(res, 3000));
  }
}

for (const id of ['f-from', 'f-to', 'f-verdict', 'f-port', 'f-protocol', 'f-policy', 'f-node']) $(id).addEventListener('input', renderTable);
void pollPods();
void pollFlows();
