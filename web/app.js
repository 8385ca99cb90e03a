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

// ---- live tile: live.mp4 through Media Source Extensions ----
//
// vigild sends an endless fragmented MP4: ftyp+moov, then prft+moof+mdat per
// frame. The stream is read with fetch(), cut into top-level boxes, and
// appended to a SourceBuffer; each prft (NTP wall clock of a frame and its
// media time) maps the video's timeline to wall time, so the tile shows how far
// behind real time the picture on screen is. When vigild ends the response
// (the camera reconnected or changed format) the tile starts over.

const live = { abort: null, camera: null };

function boxType(b, off) { return String.fromCharCode(b[off + 4], b[off + 5], b[off + 6], b[off + 7]); }
function u32(b, off) { return ((b[off] << 24) >>> 0) + (b[off + 1] << 16) + (b[off + 2] << 8) + b[off + 3]; }
function u64(b, off) { return u32(b, off) * 4294967296 + u32(b, off + 4); }
function find(b, type) {
  const t = [...type].map((c) => c.charCodeAt(0));
  for (let i = 4; i + 4 <= b.length; i++) {
    if (b[i] === t[0] && b[i + 1] === t[1] && b[i + 2] === t[2] && b[i + 3] === t[3]) return i - 4;
  }
  return -1;
}
const hex2 = (n) => n.toString(16).padStart(2, '0');

// The MSE type of an init segment: codec strings from its sample entries.
function mimeOf(init) {
  const codecs = [];
  const avcc = find(init, 'avcC');
  if (avcc >= 0) codecs.push('avc1.' + hex2(init[avcc + 9]) + hex2(init[avcc + 10]) + hex2(init[avcc + 11]));
  else if (find(init, 'hvcC') >= 0) codecs.push('hvc1.1.6.L93.B0');
  if (find(init, 'mp4a') >= 0) codecs.push('mp4a.40.2');
  return `video/mp4; codecs="${codecs.join(',')}"`;
}

// The video track's timescale (the first mdhd: track 1).
function timescaleOf(init) {
  const m = find(init, 'mdhd');
  if (m < 0) return 90000;
  return init[m + 8] === 1 ? u32(init, m + 28) : u32(init, m + 20);
}

async function liveSession(c, signal) {
  const url = `/api/cameras/${encodeURIComponent(c.id)}/live.mp4`;
  const headers = token() ? { Authorization: 'Bearer ' + token() } : {};
  const r = await fetch(url, { headers, signal });
  if (!r.ok) throw new Error('live: HTTP ' + r.status);
  const v = $('live-video');
  const ms = new MediaSource();
  v.src = URL.createObjectURL(ms);
  await new Promise((res) => ms.addEventListener('sourceopen', res, { once: true }));
  const reader = r.body.getReader();
  let buf = new Uint8Array(0), sb = null, timescale = 90000;
  const queue = [];
  let ref = null; // { wall (s), media (s) } of the latest video prft
  const pump = () => {
    if (!sb || sb.updating || !queue.length) return;
    // keep ~20 s behind the live edge in the buffer
    if (v.buffered.length && v.currentTime - v.buffered.start(0) > 30) {
      sb.remove(0, v.currentTime - 20);
      return;
    }
    sb.appendBuffer(queue.shift());
  };
  const timer = setInterval(() => {
    if (v.buffered.length) {
      const end = v.buffered.end(v.buffered.length - 1);
      if (end - v.currentTime > 1.5) v.currentTime = end - 0.3; // fell behind: to the live edge
      if (v.paused) v.play().catch(() => {});
    }
    if (ref && v.currentTime > 0) {
      const shown = ref.wall + (v.currentTime - ref.media);
      const lat = Date.now() / 1000 - shown;
      $('live-latency').textContent = `${lat.toFixed(2)} s behind`;
      $('live-latency').dataset.latency = lat.toFixed(3);
    }
  }, 500);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const nb = new Uint8Array(buf.length + value.length);
      nb.set(buf);
      nb.set(value, buf.length);
      buf = nb;
      let off = 0, start = 0;
      while (off + 8 <= buf.length) {
        const size = u32(buf, off);
        if (size < 8 || off + size > buf.length) break;
        const type = boxType(buf, off);
        if (type === 'moov') {
          const init = buf.slice(0, off + size);
          timescale = timescaleOf(init);
          sb = ms.addSourceBuffer(mimeOf(init));
          sb.mode = 'segments';
          sb.addEventListener('updateend', pump);
          queue.push(init);
          start = off + size;
        } else if (type === 'prft') {
          if (u32(buf, off + 12) === 1) {
            const ntp = u64(buf, off + 16);
            ref = { wall: ntp / 4294967296 - 2208988800, media: u64(buf, off + 24) / timescale };
          }
        } else if (type === 'mdat') {
          queue.push(buf.slice(start, off + size)); // prft + moof + mdat
          start = off + size;
        }
        off += size;
      }
      buf = buf.slice(start);
      pump();
    }
  } finally {
    clearInterval(timer);
  }
}

async function startLive() {
  const c = state.selected;
  if (!c) return;
  stopLive();
  const ctl = new AbortController();
  live.abort = ctl;
  $('live-tile').hidden = false;
  $('live-latency').textContent = '…';
  while (!ctl.signal.aborted) {
    try {
      await liveSession(c, ctl.signal);
    } catch (e) {
      if (ctl.signal.aborted) break;
      showError(e);
    }
    await new Promise((res) => setTimeout(res, 1000)); // the run ended: reconnect
  }
}

function stopLive() {
  if (live.abort) live.abort.abort();
  live.abort = null;
}

$('token').value = token();
$('token').addEventListener('change', () => { localStorage.setItem('vigil-token', $('token').value); loadCameras(); });
$('district').addEventListener('change', loadCameras);
$('site').addEventListener('change', loadCameras);
$('show').addEventListener('click', showCoverage);
$('play').addEventListener('click', play);
$('snap').addEventListener('click', snapshot);
$('live').addEventListener('click', startLive);
$('video').addEventListener('error', () => showError('video: ' + ($('video').error?.message || 'cannot play')));
loadCameras();
setInterval(loadCameras, 5000);
