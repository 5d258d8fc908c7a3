import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CATALOG, METRIC } from '../catalog.js';
import { TARGET, durationSeconds } from '../targets.js';

/**
 * The live page at `/` of the embedded metrics endpoint (the default without a stack): one HTML
 * document with its style and script inline, no build step, nothing from a CDN, served from the
 * package. The script polls this same server's `/metrics` every 2 s and shows, over the last
 * minute (or since the process started, until it has two samples): request rate, average and
 * p50/p95/p99 latency, error rate, hit rate per cache, disk operations per minute (sync vs async),
 * log growth per day, memory (RSS and its trend) and disk utilization, each against its target
 * from targets.ts. It is built on the first request to `/` (metrics.ts imports this module only
 * then), so an app that never opens it pays nothing.
 *
 * Budget: the whole page stays under LIVE_PAGE_BUDGET_BYTES (16 KiB); a test holds it.
 */
export const LIVE_PAGE_BUDGET_BYTES = 16 * 1024;

function series(name: string): string {
  const e = CATALOG.find((c) => c.name === name);
  if (!e) throw new Error(`${name} is not in the signal catalog`);
  return e.prometheus;
}

/** What the script needs from the server: series names (catalog) and targets (targets.ts). */
function config(): unknown {
  const t = (id: keyof typeof TARGET) => {
    const x = TARGET[id];
    return { v: x.value, c: x.comparison, text: x.text };
  };
  return {
    n: {
      http: series(METRIC.httpServerDuration),
      cache: series(METRIC.cacheRequests),
      entries: series(METRIC.cacheEntries),
      capacity: series(METRIC.cacheCapacity),
      fs: series(METRIC.fsOperations),
      log: series(METRIC.logWritten),
      rss: series(METRIC.processMemory),
      disk: series(METRIC.diskUtilization),
    },
    t: {
      latencyAvg: t('latencyAvg'),
      latencyP95: t('latencyP95'),
      errorRate: t('errorRate'),
      cacheHitRate: t('cacheHitRate'),
      diskOpsPerMin: t('diskOpsPerMin'),
      logGrowthPerDay: t('logGrowthPerDay'),
      memoryGrowth: t('memoryGrowth'),
      unboundedCaches: t('unboundedCaches'),
      diskUtilization: t('diskUtilization'),
    },
    minTrendS: durationSeconds(TARGET.memoryGrowth.minWindow ?? TARGET.memoryGrowth.window),
  };
}

const STYLE = `
body{font:14px system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{padding:12px 20px;background:#1d2330;color:#fff}h1{font-size:17px;margin:0}
header p{margin:4px 0 0;color:#b9c0cc;font-size:12px}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:12px;padding:16px 20px}
section{background:#fff;border-radius:6px;padding:12px 14px;box-shadow:0 1px 2px #0002}
h2{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#5b6475;margin:0 0 6px}
.r{display:grid;grid-template-columns:1fr auto 72px;gap:8px;margin:3px 0;align-items:baseline}
.t{color:#5b6475;font-size:12px;text-align:right}.n{color:#5b6475;font-size:12px;margin:4px 0 0}.ok{color:#17803d}.bad{color:#c0262d}.na{color:#8a93a3}
svg{width:100%;height:36px;margin-top:6px}polyline{fill:none;stroke:#3b6fd8;stroke-width:1.5}
`;

// Plain ES2017 without template literals, so it sits in this file as one string.
const SCRIPT = `
(function () {
  'use strict';
  var C = JSON.parse(document.getElementById('cfg').textContent);
  var N = C.n, T = C.t, WINDOW_MS = 60000, MEM_MS = 600000, EVERY_MS = 2000, hist = [], mem = [], started = null;
  function parse(text) {
    var out = [];
    text.split('\\n').forEach(function (line) {
      line = line.trim();
      if (!line || line[0] === '#') return;
      var m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\\{(.*)\\})?\\s+(\\S+)/.exec(line);
      if (!m) return;
      var l = {}, re = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\\\]|\\\\.)*)"/g, x;
      while ((x = re.exec(m[2] || ''))) l[x[1]] = x[2].replace(/\\\\(.)/g, function (_, c) { return c === 'n' ? '\\n' : c; });
      var v = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
      out.push({ n: m[1], l: l, v: v });
    });
    return out;
  }
  function pick(s, name, f) {
    return s.filter(function (x) { return x.n === name && (!f || f(x.l)); });
  }
  function sum(s, name, f) {
    var p = pick(s, name, f);
    return p.length ? p.reduce(function (a, x) { return a + x.v; }, 0) : undefined;
  }
  function by(s, name, key, f) {
    var o = {};
    pick(s, name, f).forEach(function (x) { var k = x.l[key] || ''; o[k] = (o[k] || 0) + x.v; });
    return o;
  }
  /* Growth of a counter; a counter that went down (a restart) counts from zero, as report does. */
  function delta(a, b) {
    if (a === undefined && b === undefined) return null;
    var d = (b || 0) - (a || 0);
    return d < 0 ? b || 0 : d;
  }
  /* Linear interpolation inside the bucket, as PromQL's histogram_quantile. */
  function quantile(q, buckets) {
    buckets.sort(function (a, b) { return a[0] - b[0]; });
    var total = buckets.length ? buckets[buckets.length - 1][1] : 0;
    if (!(total > 0)) return NaN;
    var rank = q * total, pl = 0, pc = 0;
    for (var i = 0; i < buckets.length; i++) {
      var le = buckets[i][0], c = buckets[i][1];
      if (c >= rank) return le === Infinity ? pl : pl + ((le - pl) * (rank - pc)) / (c - pc || 1);
      pl = le; pc = c;
    }
    return pl;
  }
  function passes(t, v) {
    return t.c === '<' ? v < t.v : t.c === '<=' ? v <= t.v : t.c === '>' ? v > t.v : v >= t.v;
  }
  function compute(base, last) {
    var A = base.s, B = last.s, dt = (last.at - base.at) / 1000, r = {};
    var d = function (name, f) { return delta(sum(A, name, f), sum(B, name, f)); };
    var count = d(N.http + '_count') || 0;
    r.reqRate = count / dt;
    r.latencyAvg = count > 0 ? d(N.http + '_sum') / count : NaN;
    var b0 = by(A, N.http + '_bucket', 'le'), b1 = by(B, N.http + '_bucket', 'le');
    var buckets = Object.keys(b1).map(function (le) {
      return [le === '+Inf' ? Infinity : Number(le), b1[le] - (b0[le] || 0)];
    });
    r.p50 = quantile(0.5, buckets); r.p95 = quantile(0.95, buckets); r.p99 = quantile(0.99, buckets);
    var five = function (l) { return /^5/.test(l.http_response_status_code || ''); };
    r.errorRate = count > 0 ? (d(N.http + '_count', five) || 0) / count : NaN;
    r.caches = {};
    Object.keys(by(B, N.cache, 'cache_name')).sort().forEach(function (c) {
      var f = function (res) { return function (l) { return l.cache_name === c && l.cache_result === res; }; };
      var h = d(N.cache, f('hit')) || 0, m = d(N.cache, f('miss')) || 0;
      r.caches[c] = h + m > 0 ? h / (h + m) : NaN;
    });
    var a0 = by(A, N.fs, 'fs_api'), a1 = by(B, N.fs, 'fs_api'), sync = 0, async = 0;
    Object.keys(a1).forEach(function (k) {
      var x = delta(a0[k], a1[k]) * (60 / dt);
      if (k === 'sync') sync += x; else async += x;
    });
    r.fsSync = sync; r.fsAsync = async; r.fsTotal = sync + async;
    var lg = d(N.log, function (l) { return l.log_sink === 'file'; });
    r.logPerDay = lg === null ? NaN : lg * (86400 / dt);
    var caps = by(B, N.capacity, 'cache_name');
    r.unbounded = Object.keys(by(B, N.entries, 'cache_name')).filter(function (c) { return !(c in caps); }).length;
    var du = pick(B, N.disk);
    r.disk = du.length ? Math.max.apply(null, du.map(function (x) { return x.v; })) : NaN;
    return r;
  }
  /* RSS over the last 10 minutes: last value and least-squares slope, per hour of its mean. */
  function memory(p) {
    if (!p.length) return { rss: NaN, growth: NaN, span: 0, pts: [] };
    var n = p.length, mt = 0, mv = 0, num = 0, den = 0;
    p.forEach(function (x) { mt += x[0] / n; mv += x[1] / n; });
    p.forEach(function (x) { num += (x[0] - mt) * (x[1] - mv); den += (x[0] - mt) * (x[0] - mt); });
    return { rss: p[n - 1][1], growth: den ? ((num / den) * 3600) / mv : NaN, span: p[n - 1][0] - p[0][0], pts: p };
  }
  function fmt(v, u) {
    if (typeof v !== 'number' || !isFinite(v)) return '–';
    if (u === 's') return v < 1 ? (v * 1000).toFixed(0) + ' ms' : v.toFixed(2) + ' s';
    if (u === '%') return (v * 100).toFixed(1) + ' %';
    if (u === 'B') return v >= 1e6 ? (v / 1e6).toFixed(2) + ' MB' : (v / 1e3).toFixed(1) + ' KB';
    if (u === 'n') return v.toFixed(0);
    return v >= 100 || v === 0 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  }
  function row(label, key, v, u, t, judged) {
    var cls = !t || !isFinite(v) ? '' : judged === false ? 'na' : passes(t, v) ? 'ok' : 'bad';
    return '<div class="r"><span>' + label + '</span><b class="' + cls + '" data-k="' + key + '" data-v="' + v +
      '">' + fmt(v, u) + '</b>' + (t ? '<span class="t">' + t.text + '</span>' : '<span></span>') + '</div>';
  }
  function esc(s) { return s.replace(/[&<>"]/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; }); }
  function spark(pts) {
    if (pts.length < 2) return '';
    var t0 = pts[0][0], t1 = pts[pts.length - 1][0], lo = Infinity, hi = -Infinity;
    pts.forEach(function (x) { lo = Math.min(lo, x[1]); hi = Math.max(hi, x[1]); });
    var xy = pts.map(function (x) {
      return (((x[0] - t0) / (t1 - t0 || 1)) * 100).toFixed(1) + ',' + (34 - ((x[1] - lo) / (hi - lo || 1)) * 32).toFixed(1);
    });
    return '<svg viewBox="0 0 100 36" preserveAspectRatio="none"><polyline points="' + xy.join(' ') + '"/></svg>';
  }
  function render(base, last, since) {
    var r = compute(base, last), m = memory(mem), judged = m.span >= C.minTrendS;
    var html = '<section><h2>Requests</h2>' + row('requests /s', 'reqRate', r.reqRate) +
      row('error rate', 'errorRate', r.errorRate, '%', T.errorRate) + '</section>' +
      '<section><h2>Latency</h2>' + row('average', 'latencyAvg', r.latencyAvg, 's', T.latencyAvg) +
      row('p50', 'p50', r.p50, 's') + row('p95', 'p95', r.p95, 's', T.latencyP95) + row('p99', 'p99', r.p99, 's') + '</section>' +
      '<section><h2>Cache hit rate</h2>' + (Object.keys(r.caches).map(function (c) {
        return row(esc(c), 'cache:' + esc(c), r.caches[c], '%', T.cacheHitRate);
      }).join('') || '<p class="t">no cache lookups</p>') + row('caches without capacity', 'unbounded', r.unbounded, 'n', T.unboundedCaches) + '</section>' +
      '<section><h2>Disk I/O per minute</h2>' + row('total', 'fsTotal', r.fsTotal, '', T.diskOpsPerMin) +
      row('sync', 'fsSync', r.fsSync) + row('async', 'fsAsync', r.fsAsync) + row('disk used', 'disk', r.disk, '%', T.diskUtilization) + '</section>' +
      '<section><h2>Log growth per day</h2>' + row('local files', 'logPerDay', r.logPerDay, 'B', T.logGrowthPerDay) + '</section>' +
      '<section><h2>Memory (RSS)</h2>' + row('now', 'rss', m.rss, 'B') +
      row('growth /h', 'memGrowth', m.growth, '%', T.memoryGrowth, judged) +
      (judged ? '' : '<p class="n">A trend is judged over ' + C.minTrendS / 60 + ' min or more (' + Math.round(m.span) + ' s so far).</p>') +
      spark(m.pts) + '</section>';
    document.getElementById('cards').innerHTML = html;
    document.getElementById('scope').textContent = since
      ? 'Counted since the process started ' + Math.round((last.at - base.at) / 1000) + ' s ago (one sample so far); refreshed every 2 s.'
      : 'Over the last ' + Math.round((last.at - base.at) / 1000) + ' s; refreshed every 2 s. Targets: the audit\\'s (instrumentation/targets.ts).';
    window.__echoesLive = { base: { at: base.at, text: base.text }, last: { at: last.at, text: last.text }, sinceStart: since, values: r };
  }
  function tick() {
    fetch('metrics', { cache: 'no-store' }).then(function (res) {
      var st = Number(res.headers.get('x-echoes-process-start'));
      if (st > 0) started = st;
      return res.text();
    }).then(function (text) {
      var now = { at: Date.now(), text: text, s: parse(text) };
      hist.push(now);
      var rss = sum(now.s, N.rss);
      if (rss !== undefined) mem.push([now.at / 1000, rss]);
      while (mem.length > 2 && mem[0][0] * 1000 < now.at - MEM_MS) mem.shift();
      while (hist.length > 2 && hist[1].at <= now.at - WINDOW_MS) hist.shift();
      if (hist.length >= 2) render(hist[0], now, false);
      else if (started) render({ at: started, text: '', s: [] }, now, true);
    }).catch(function (e) {
      document.getElementById('scope').textContent = 'Cannot read /metrics: ' + e;
    }).then(function () { setTimeout(tick, EVERY_MS); });
  }
  tick();
})();
`;

interface Built {
  readonly body: Buffer;
  readonly csp: string;
}

let built: Built | undefined;

const sha256 = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;

/** The page, built once: targets and names as JSON in a data block, inline style and script. */
export function buildLivePage(): Built {
  if (built) return built;
  // In a <script type="application/json"> block: only "</" could end it early.
  const cfg = JSON.stringify(config()).replace(/</g, '\\u003c');
  const html =
    '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width,initial-scale=1">' +
    `<title>echoes-otel live</title><style>${STYLE}</style></head><body>` +
    '<header><h1>echoes-otel: live from this process</h1><p id="scope">Reading /metrics…</p></header>' +
    `<main id="cards"></main><script type="application/json" id="cfg">${cfg}</script>` +
    `<script>${SCRIPT}</script></body></html>`;
  // Only this page's own style and script run, and it talks to nothing but this server.
  const csp = `default-src 'none'; script-src ${sha256(SCRIPT)}; style-src ${sha256(STYLE)}; connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
  built = { body: Buffer.from(html), csp };
  return built;
}

/** Answer a request for `/` on the metrics endpoint. */
export function serveLivePage(req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  const page = buildLivePage();
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': page.body.length,
    'content-security-policy': page.csp,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  });
  res.end(req.method === 'HEAD' ? undefined : page.body);
}
