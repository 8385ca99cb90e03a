// Playback view: camera list, coverage timeline, clip playback/export,
// snapshots and a live tile, straight from vigild's HTTP API.
import { api, mediaUrl as withToken } from '../api.js';
import { playLive } from '../live.js';
import { t, register, apply } from '../i18n.js';
import dict from '../i18n/playback.js';

register(dict);

const $ = (id) => document.getElementById(id);
let state = { cameras: [], selected: null };
let live = null, timer = null;

const TEMPLATE = `
<div class="playback">
  <section id="cameras-pane">
    <form id="filters">
      <label><span data-i18n="pb.district"></span> <select id="district"><option value="" data-i18n="pb.all"></option></select></label>
      <label><span data-i18n="pb.site"></span> <select id="site"><option value="" data-i18n="pb.all"></option>
        <option>security</option><option>one-stop-shop</option><option>traffic</option>
        <option>forest</option><option>other</option></select></label>
    </form>
    <h2><span data-i18n="pb.cameras"></span> <span id="camera-count"></span></h2>
    <table id="cameras"><thead><tr><th>id</th><th data-i18n="pb.name"></th><th data-i18n="pb.district"></th><th data-i18n="pb.status"></th><th>video</th></tr></thead><tbody></tbody></table>
  </section>
  <section id="viewer" hidden>
    <h2 id="viewer-title"></h2>
    <div class="range">
      <label><span data-i18n="pb.from"></span> <input id="from" type="datetime-local" step="1"></label>
      <label><span data-i18n="pb.to"></span> <input id="to" type="datetime-local" step="1"></label>
      <button id="show" data-i18n="pb.show"></button>
      <button id="play" data-i18n="pb.play"></button>
      <a id="export" download data-i18n="pb.export"></a>
      <button id="snap" data-i18n="pb.snapshot"></button>
      <button id="live" data-i18n="pb.live"></button>
    </div>
    <figure id="live-tile" hidden>
      <video id="live-video" muted playsinline autoplay></video>
      <figcaption>LIVE <span id="live-latency">…</span></figcaption>
    </figure>
    <div id="timeline"></div>
    <p id="coverage-text"></p>
    <video id="video" controls muted playsinline></video>
    <img id="snapshot" alt="snapshot" hidden>
    <p id="error" role="alert"></p>
  </section>
</div>`;

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
  if (!state.selected || state.selected.id !== c.id) {
    stopLive();
    $('live-tile').hidden = true;
  }
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
    t('pb.coverage', { runs: cov.runs.length, gaps: cov.gaps.length, s: (recorded / 1000).toFixed(0) });
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

function startLive() {
  const c = state.selected;
  if (!c) return;
  stopLive();
  $('live-tile').hidden = false;
  $('live-latency').textContent = '…';
  live = playLive($('live-video'), `/api/cameras/${encodeURIComponent(c.id)}/live.mp4`, {
    onLatency: (lat) => {
      $('live-latency').textContent = t('pb.behind', { s: lat.toFixed(2) });
      $('live-latency').dataset.latency = lat.toFixed(3);
    },
    onError: (e) => { if (e) showError(e); },
  });
}

function stopLive() {
  if (live) live.stop();
  live = null;
}

export function mount(el) {
  state = { cameras: [], selected: null };
  el.innerHTML = TEMPLATE;
  apply(el);
  $('timeline').title = t('pb.timeline');
  $('district').addEventListener('change', loadCameras);
  $('site').addEventListener('change', loadCameras);
  $('show').addEventListener('click', showCoverage);
  $('play').addEventListener('click', play);
  $('snap').addEventListener('click', snapshot);
  $('live').addEventListener('click', startLive);
  $('video').addEventListener('error', () => showError('video: ' + ($('video').error?.message || 'cannot play')));
  loadCameras();
  timer = setInterval(loadCameras, 5000);
}

export function unmount() {
  stopLive();
  clearInterval(timer);
  timer = null;
}
