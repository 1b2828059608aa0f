// The one HTML page of `twill ui`; the script is dist/ui/app.js (src/ui/web/, bundled by esbuild).
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Twill flows</title>
<style>
  body { font: 13px system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
  header { background: #1d2330; color: #fff; padding: 8px 16px; display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 16px; margin: 0; }
  main { display: grid; grid-template-columns: 1fr 360px; gap: 12px; padding: 12px; }
  section { background: #fff; border: 1px solid #d9dde4; border-radius: 6px; padding: 8px; min-width: 0; }
  h2 { font-size: 13px; margin: 0 0 6px; text-transform: uppercase; letter-spacing: .04em; color: #56607a; }
  #map svg { display: block; max-height: 480px; }
  #filters { display: flex; flex-wrap: wrap; gap: 6px; margin-bottom: 6px; }
  #filters input, #filters select { font: inherit; padding: 2px 4px; width: 120px; }
  table { border-collapse: collapse; width: 100%; font: 12px ui-monospace, monospace; }
  th, td { text-align: left; padding: 2px 6px; border-bottom: 1px solid #eef0f3; white-space: nowrap; }
  tbody tr { cursor: pointer; }
  tbody tr:hover { background: #eef3ff; }
  .DROPPED { color: #c0392b; font-weight: 600; }
  .FORWARDED { color: #1e8449; }
  #table-wrap { max-height: 420px; overflow: auto; }
  pre { white-space: pre-wrap; font: 12px ui-monospace, monospace; background: #f6f7f9; padding: 6px; }
  .legend span { margin-right: 10px; }
  #notes { color: #a04000; font-size: 12px; }
</style>
</head>
<body>
<header><h1>Twill</h1><span id="summary">connecting…</span><span id="notes"></span></header>
<main>
  <div>
    <section id="map"><h2>Service map</h2><div class="legend"><span style="color:#1e8449">━ forwarded</span><span style="color:#c0392b">━ dropped</span><span>width: flows in the last 30 s</span></div><svg id="map-svg" role="img" aria-label="service map"></svg></section>
    <section><h2>Flows</h2>
      <div id="filters">
        <input id="f-from" placeholder="from (ns/pod, ns/, k=v, IP, CIDR)" title="--from">
        <input id="f-to" placeholder="to" title="--to">
        <select id="f-verdict" title="--verdict"><option value="">any verdict</option><option>FORWARDED</option><option>DROPPED</option></select>
        <input id="f-port" placeholder="port" title="--port">
        <select id="f-protocol" title="--protocol"><option value="">any protocol</option><option>tcp</option><option>udp</option><option>sctp</option><option>icmp</option></select>
        <input id="f-policy" placeholder="policy ns/name" title="--policy">
        <input id="f-node" placeholder="node" title="--node">
        <span id="f-error" style="color:#c0392b"></span>
      </div>
      <div id="table-wrap"><table id="flows"><thead><tr><th>time</th><th>node</th><th>source</th><th>destination</th><th>type</th><th>verdict</th><th>policy</th></tr></thead><tbody></tbody></table></div>
    </section>
  </div>
  <div>
    <section id="policy"><h2>Policy view</h2><div id="policy-body">Click a pod on the map, or a flow in the table.</div></section>
  </div>
</main>
<script type="module" src="/app.js"></script>
</body>
</html>
`;
