// vigil IOC console: camera list, coverage timeline, clip playback/export and
// snapshots, straight from vigild's HTTP API. No build step, no framework.
'use strict';

const $ = (id) => document.getElementById(id);
const state = { cameras: [], selected: null };

function token() { return localStorage.getItem('vigil-token') || ''; }

function withToken(url) {
  // <video>/<img>/<a download> cannot send headers: the token rides in the query.
  const t = token();
  return t ? url + (url.includes('?') ? '&' : '?') + 'access_token=' + encodeURIComponent(t) : url;
}

async function api(path) {
  const headers = token() ? { Authorization: 'Bearer ' + token() } : {};
  const r = await fetch(path, { headers });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || ('HTTP ' + r.status));
  return body;
}

function toLocalInput(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function rangeParams() {
  const from = new Date($('from').value), to = new Date($('to').value);
  return { start: from.toISOString(), end: to.toISOString(), from, to };
}

function showError(e) { $('error').textContent = e ? String(e.message || e) : ''; }

async function loadCameras() {
  const q = new URLSearchParams();
  if ($('district').value) q.set('district', $('district').value);
  if ($('site').value) q.set('site', $('site').value);
  try {
    state.cameras = await api('/api/cameras' + (q.toString() ? '?' + q : ''));
    showError(null);
  } catch (e) { showError(e); return; }
  const tb = $('cameras').querySelector('tbody');
  tb.replaceChildren();
  for (const c of state.cameras) {
    const tr = document.createElement('tr');
    tr.dataset.id = c.id;
    if (state.selected && state.selected.id === c.id) tr.classList.add('selected');
    const video = c.codec ? `${c.codec} ${c.width}×${c.height} ${Math.round(c.fps || 0)} fps` : '';
    for (const [text, cls] of [[c.id], [c.name], [c.district], [c.status, 'status-' + c.status], [video]]) {
      const td = document.createElement('td');
      td.textContent = text ?? '';
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    tr.addEventListener('click', () => select(c));
    tb.appendChild(tr);
  }
  $('camera-count').textContent = `(${state.cameras.length})`;
  const districts = new Set(state.cameras.map((c) => c.district).filter(Boolean));
  const sel = $('district');
  for (const d of districts) {
    if (![...sel.options].some((o) => o.value === d)) sel.add(new Option(d, d));
  }
}

function select(c) {
  state.selected = c;
  for (const tr of document.querySelectorAll('#cameras tbody tr')) {
    tr.classList.toggle('selected', tr.dataset.id === c.id);
  }
  $('viewer').hidden = false;
  $('viewer-title').textContent = `${c.name} (${c.id})`;
  const now = new Date();
  $('to').value = toLocalInput(now);
  $('from').value = toLocalInput(new Date(now - 10 * 60 * 1000));
  showCoverage();
}

async function showCoverage() {
  const c = state.selected;
  if (!c) return;
  const { start, end, from, to } = rangeParams();
  let cov;
  try {
    cov = await api(`/api/cameras/${encodeURIComponent(c.id)}/recordings?start=${start}&end=${end}`);
    showError(null);
  } catch (e) { showError(e); return; }
  const tl = $('timeline');
  tl.replaceChildren();
  const span = to - from;
  let recorded = 0;
  for (const r of cov.runs) {
    const a = Math.max(new Date(r.start) - from, 0), b = Math.min(new Date(r.end) - from, span);
    if (b <= a) continue;
    recorded += b - a;
    const div = document.createElement('div');
    div.className = 'run';
    div.style.left = (100 * a / span) + '%';
    div.style.width = (100 * (b - a) / span) + '%';
    div.title = `${r.start} → ${r.end}`;
    tl.appendChild(div);
  }
  $('coverage-text').textContent =
    `${cov.runs.length} run(s), ${cov.gaps.length} gap(s), ${(recorded / 1000).toFixed(0)} s recorded`;
  const clip = `/api/cameras/${encodeURIComponent(c.id)}/clip.mp4?start=${start}&end=${end}`;
  $('export').href = withToken(clip);
}

function play() {
  const c = state.selected;
  if (!c) return;
  const { start, end } = rangeParams();
  const v = $('video');
  v.src = withToken(`/api/cameras/${encodeURIComponent(c.id)}/clip.mp4?start=${start}&end=${end}`);
  v.play().catch((e) => showError(e));
}

function snapshot() {
  const c = state.selected;
  if (!c) return;
  const { start } = rangeParams();
  const img = $('snapshot');
  img.hidden = false;
  img.src = withToken(`/api/cameras/${encodeURIComponent(c.id)}/snapshot.jpg?at=${start}`);
}

$('token').value = token();
$('token').addEventListener('change', () => { localStorage.setItem('vigil-token', $('token').value); loadCameras(); });
$('district').addEventListener('change', loadCameras);
$('site').addEventListener('change', loadCameras);
$('show').addEventListener('click', showCoverage);
$('play').addEventListener('click', play);
$('snap').addEventListener('click', snapshot);
$('video').addEventListener('error', () => showError('video: ' + ($('video').error?.message || 'cannot play')));
loadCameras();
setInterval(loadCameras, 5000);
