/*
 * status.js -- the operator's page: polls GET /api/admin/status/ every
 * second (the session cookie, or ?token= kept for the page's life) and
 * draws the last two minutes of each series on a canvas.  Counters are
 * totals since start; rates are derived here from two polls.  401 shows
 * a login form, 403 says the page is for admins.
 */
'use strict';

const API = '/api/admin/status/';
const KEEP = 120; /* points per series: two minutes at one a second */
const COLORS = ['#2f6fdf', '#e0592a', '#2a9d5b', '#9b4dca', '#c9a227', '#1aa3b8'];
const series = { connections: {}, messages: {}, queue: {}, latency: {} };
const token = new URLSearchParams(location.search).get('token');
let last = null;

const $ = (id) => document.getElementById(id);

/* Append v to the named series of chart, keeping KEEP points. */
function push(chart, name, v) {
  const s = (series[chart][name] ||= []);
  s.push(v);
  if (s.length > KEEP) s.shift();
}

/* Draw every series of chart on its canvas, scaled to their maximum. */
function draw(chart) {
  const canvas = $('chart-' + chart), g = canvas.getContext('2d');
  const names = Object.keys(series[chart]);
  const max = Math.max(1, ...names.flatMap((n) => series[chart][n]));
  const w = canvas.width, h = canvas.height, top = 14;
  g.clearRect(0, 0, w, h);
  g.fillStyle = '#5b6573';
  g.font = '11px sans-serif';
  g.fillText(String(Math.round(max * 100) / 100), 2, 10);
  g.strokeStyle = '#eceff3';
  g.strokeRect(0.5, top + 0.5, w - 1, h - top - 1);
  const legend = $('legend-' + chart);
  legend.textContent = '';
  names.forEach((n, i) => {
    const s = series[chart][n], color = COLORS[i % COLORS.length];
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    s.forEach((v, x) => {
      const px = ((KEEP - s.length + x) / (KEEP - 1)) * (w - 2) + 1;
      const py = h - 2 - (v / max) * (h - top - 4);
      x ? g.lineTo(px, py) : g.moveTo(px, py);
    });
    g.stroke();
    const li = document.createElement('li');
    li.style.setProperty('--c', color);
    li.textContent = `${n}: ${Math.round(s[s.length - 1] * 100) / 100}`;
    li.dataset.series = n;
    legend.append(li);
  });
  canvas.dataset.points = String(names.reduce((a, n) => a + series[chart][n].length, 0));
  canvas.dataset.last = names.map((n) => series[chart][n].at(-1)).join(',');
}

/* Fold one status document into the series and the tables. */
function show(st) {
  $('who').textContent = `version ${st.version} · ` +
    (st.worker ? `worker ${st.worker} of ${(st.workers || []).length || '?'} (pid ${st.pid}; ` +
      `per worker, connections of all: ${st.all_connections ?? '?'})` : `pid ${st.pid}`) +
    ` · up ${st.uptime_seconds} s · ${st.connections} WebSocket connections`;
  for (const r of st.routes) push('connections', r.route, r.connections);
  const dt = last ? (st.at_ms - last.at_ms) / 1000 : 0;
  if (dt > 0) {
    push('messages', 'in', Math.max(0, st.messages.in - last.messages.in) / dt);
    push('messages', 'out', Math.max(0, st.messages.out - last.messages.out) / dt);
  }
  push('queue', 'depth', st.store.queue_depth ?? 0);
  const lat = st.store.commit_latency_ms || {};
  push('latency', 'last', lat.last ?? 0);
  push('latency', 'avg', lat.avg ?? 0);
  last = st;
  Object.keys(series).forEach(draw);
  const state = $('state');
  state.textContent = '';
  for (const [k, v] of [['layer', `${st.layer.backend}: ${st.layer.state}`], ['groups', st.layer.groups],
    ['store', `${st.store.backend}: ${st.store.state}`], ['handshake failures', st.handshake_failures]]) {
    const dt_ = document.createElement('dt'), dd = document.createElement('dd');
    dt_.textContent = k;
    dd.textContent = String(v);
    state.append(dt_, dd);
  }
  const body = $('plugins').tBodies[0];
  body.textContent = '';
  for (const p of st.plugins) {
    const tr = body.insertRow();
    for (const v of [p.name, p.version, p.generation, p.connections]) tr.insertCell().textContent = String(v);
  }
}

/* One poll; schedules the next. */
async function poll() {
  try {
    const res = await fetch(API, {
      credentials: 'same-origin', cache: 'no-store',
      headers: token ? { Authorization: `Bearer ${token}` } : {},
    });
    $('denied').hidden = res.status !== 403;
    $('login').hidden = res.status !== 401;
    $('board').hidden = !res.ok;
    if (res.status === 403) $('who').textContent = '403 forbidden';
    else if (res.status === 401) $('who').textContent = 'not logged in';
    else if (res.ok) show(await res.json());
    else $('who').textContent = `status ${res.status}`;
  } catch (e) {
    $('who').textContent = `host unreachable (${e.message})`;
  }
  setTimeout(poll, 1000);
}

$('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const data = new FormData(ev.target);
  const res = await fetch('/api/auth/login/', {
    method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: data.get('username'), password: data.get('password') }),
  });
  $('login-error').textContent = res.ok ? '' : `login refused (${res.status})`;
});

poll();
