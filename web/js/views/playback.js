// Playback: up to four cameras played in step at one wall time, over a
// timeline per camera (recorded runs and gaps, the activity heat strip, event
// markers) zoomable from a day down to a minute.
//
// One master clock (wall time, rate, playing) drives every tile. A tile holds
// a clip (clip.mp4 from the time asked, up to WINDOW later or the end of the
// recording); the clip starts at the keyframe at or before that time, so its
// X-Clip-Start/X-Clip-End headers, read with a HEAD first, tell which wall
// time currentTime 0 is. Every TICK
// the clock advances (held while a tile that has footage there is still
// loading or buffering, so the others do not run ahead of it), then each
// video is nudged towards it: its playbackRate trimmed when a little off,
// re-seeked when far off; paused, every tile is seeked to the exact time.
// After a hold the tiles start together: each starts at a crawl (CUE_RATE,
// the clock too) until every one's picture moves, then all take the speed at
// once; a video freshly seeked starts tens of ms after one that was only
// paused, which at 4x would be over 0.1 s of picture between them.
// Media URLs carry no token: the session cookie goes with them.
import { api, headers } from '../api.js';
import { t, register, apply } from '../i18n.js';
import { formatTime, zoneOffset, parseZoned } from '../time.js';
import dict from '../i18n/playback.js';

register(dict);

const MAX_TILES = 4;
const WINDOW = 10 * 60e3;        // what one clip covers at most from the time asked
const MIN_SPAN = 60e3, MAX_SPAN = 86400e3;
const SPANS = [60e3, 120e3, 300e3, 600e3, 1800e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, 86400e3];
const TICKS = [5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3,
               3 * 3600e3, 6 * 3600e3];
const SPEEDS = [0.5, 1, 2, 4, 8];
const TICK = 100;                // ms between clock steps and drift corrections
const SEEK_OFF = 0.5;            // s: a tile this far from the clock is re-seeked...
const TRIM_OFF = 0.02;           // ...one further than this has its rate trimmed
const CUE_RATE = 0.125;          // the crawl tiles start at after a hold...
const CUE_MAX = 2000;            // ms: ...for at most this long (a tile that never moves holds no one)
const LIVE_EDGE = 3000;          // ms: the clock stops this far behind now
const RETRY = 3000;              // ms: look again for footage where there was none

const enc = encodeURIComponent;
const iso = (ms) => new Date(ms).toISOString();
const clamp = (x, a, b) => Math.min(b, Math.max(a, x));

let S = null;    // the mounted view
let kept = null; // where it was left: a re-mount with the same link (a change
                 // of language, a visit to another view) comes back there

const TEMPLATE = `
<div class="pb">
  <aside class="pb-side">
    <h2><span data-i18n="pb.cameras"></span> <span id="pb-count"></span></h2>
    <input id="pb-filter" type="search" data-i18n-placeholder="pb.filter">
    <ul id="pb-cameras"></ul>
    <p id="pb-error" role="alert"></p>
  </aside>
  <section class="pb-main">
    <div id="pb-tiles"></div>
    <div id="pb-controls">
      <button id="pb-prev">|◀</button><button id="pb-play"></button><button id="pb-next">▶|</button>
      <label><span data-i18n="pb.speed"></span> <select id="pb-speed">
        ${SPEEDS.map((s) => `<option value="${s}"${s === 1 ? ' selected' : ''}>${s}×</option>`).join('')}
      </select></label>
      <output id="pb-clock"></output>
      <label><span data-i18n="pb.goto"></span> <input id="pb-goto" type="datetime-local" step="1"></label>
      <span class="spacer"></span>
      <button id="pb-earlier">◀</button><button id="pb-out">−</button>
      <span id="pb-span"></span>
      <button id="pb-in">+</button><button id="pb-later">▶</button>
    </div>
    <div id="pb-timelines">
      <div class="pb-row"><span></span><div id="pb-ticks"></div></div>
      <div id="pb-rows"></div>
    </div>
    <div id="pb-preview" hidden><img alt=""><span></span></div>
  </section>
</div>`;

const $ = (id) => S.root.querySelector('#' + id);
const cam = (id) => S.cameras.find((c) => c.id === id);

function showError(e) { if (S) $('pb-error').textContent = e ? String(e.message || e) : ''; }

// "…?t=" of a deep link: Unix seconds or RFC 3339.
function parseT(s) {
  if (!s) return null;
  const ms = /^\d+(\.\d+)?$/.test(s) ? Number(s) * 1000 : Date.parse(s);
  return Number.isFinite(ms) ? ms : null;
}

/* ---- the camera list ---- */

function renderList() {
  const f = $('pb-filter').value.trim().toLowerCase();
  const ul = $('pb-cameras');
  ul.replaceChildren();
  for (const c of S.cameras) {
    if (f && ![c.id, c.name, c.district].some((x) => String(x || '').toLowerCase().includes(f))) continue;
    const li = document.createElement('li');
    li.dataset.id = c.id;
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = S.selected.includes(c.id);
    box.disabled = !box.checked && S.selected.length >= MAX_TILES;
    box.addEventListener('change', () => toggle(c.id, box.checked));
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = c.name;
    const st = document.createElement('small');
    st.className = 'status status-' + c.status;
    st.dataset.status = c.status;
    st.textContent = [c.district, t('pb.status.' + c.status)].filter(Boolean).join(' · ');
    label.append(box, name, st);
    li.appendChild(label);
    ul.appendChild(li);
  }
  $('pb-count').textContent = `(${S.selected.length}/${MAX_TILES})`;
  $('pb-count').title = t('pb.max', { n: MAX_TILES });
}

function toggle(id, on) {
  if (on && !S.selected.includes(id) && S.selected.length < MAX_TILES) S.selected.push(id);
  if (!on) S.selected = S.selected.filter((x) => x !== id);
  renderList();
  renderTiles();
  renderRows();
  fetchRows();
}

/* ---- tiles ---- */

function newTile(id) {
  const c = cam(id);
  const fig = document.createElement('figure');
  fig.className = 'pb-tile';
  fig.dataset.camera = id;
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.preload = 'auto';
  const cap = document.createElement('figcaption');
  const name = document.createElement('span');
  name.textContent = c ? c.name : id;
  const time = document.createElement('span');
  time.className = 'pb-time';
  cap.append(name, ' ', time);
  const note = document.createElement('p');
  note.className = 'pb-note';
  fig.append(video, cap, note);
  // start/end: the wall range the clip covers; asked: the time it was asked
  // for (footage may begin later); empty: a range known to hold no footage.
  const tile = { id, fig, video, time, note, seq: 0, loading: false, start: null, end: null, asked: null,
                 empty: null, playFrom: null };
  // A tile that stalls mid-play holds the clock at once, not at the next
  // tick: at 4x the others would run 0.4 s ahead in one tick.
  video.addEventListener('waiting', () => { if (S.clock.playing) tick(); });
  video.addEventListener('ended', () => { if (S.clock.playing) tick(); });
  // The media's own length bounds what the headers said (a clip still being
  // written may have grown between the HEAD and the GET, never shrunk).
  video.addEventListener('durationchange', () => {
    if (tile.start !== null && Number.isFinite(video.duration)) tile.end = tile.start + video.duration * 1000;
  });
  // A refused or broken download is tried again shortly; a codec this
  // browser cannot decode (H.265 in most) is only said.
  video.addEventListener('error', () => {
    if (!video.getAttribute('src')) return;
    const unsupported = video.error?.code === MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED;
    setClip(tile, null);
    tile.empty = { from: -Infinity, to: Infinity, until: unsupported ? Infinity : performance.now() + RETRY };
    tile.note.textContent = unsupported ? t('pb.unsupported', { codec: c?.codec || '?' }) : t('pb.failed');
  });
  return tile;
}

function dropTile(tile) {
  tile.seq++;
  setClip(tile, null);
  tile.fig.remove();
}

function renderTiles() {
  for (const [id, tile] of S.tiles) if (!S.selected.includes(id)) { dropTile(tile); S.tiles.delete(id); }
  const grid = $('pb-tiles');
  for (const id of S.selected) {
    if (!S.tiles.has(id)) S.tiles.set(id, newTile(id));
    grid.appendChild(S.tiles.get(id).fig);
  }
  grid.style.setProperty('--cols', String(S.selected.length > 1 ? 2 : 1));
  if (!S.selected.length) {
    const p = document.createElement('p');
    p.className = 'pb-empty';
    p.textContent = t('pb.pick');
    grid.replaceChildren(p);
  } else {
    grid.querySelector('.pb-empty')?.remove();
  }
}

// Point the tile at a clip (url and the wall range it covers) or at none.
function setClip(tile, url, start = null, end = null) {
  tile.start = start;
  tile.end = end;
  const v = tile.video;
  if (url) {
    tile.fig.dataset.clipStart = iso(start);
    tile.fig.dataset.clipEnd = iso(end);
    v.src = url;
    // Straight to the clock's time once the clip's length is known, so its
    // first picture shown is that one, not the keyframe the clip starts at.
    v.addEventListener('loadedmetadata', () => {
      if (tile.start === start && v.getAttribute('src') === url && !v.seeking)
        v.currentTime = clamp((S.clock.t - start) / 1000, 0, Number.isFinite(v.duration) ? v.duration : Infinity);
    }, { once: true });
  } else {
    delete tile.fig.dataset.clipStart;
    delete tile.fig.dataset.clipEnd;
    if (v.getAttribute('src')) { v.removeAttribute('src'); v.load(); } // ends the download
  }
}

const covers = (tile, T) => tile.start !== null && T >= tile.start && T < tile.end;

// HEADs one at a time: every open clip holds one of the token's download
// slots (http.max_downloads_per_token), so the openings are not added at once;
// a refusal is retried after a pause.
let opening = Promise.resolve();
function openClip(url) {
  const p = opening.then(async () => {
    for (let i = 0; ; i++) {
      const r = await fetch(url, { method: 'HEAD', credentials: 'same-origin', headers: headers() });
      if (r.ok) return r;
      if ((r.status !== 429 && r.status !== 503) || i >= 4) throw new Error('clip: HTTP ' + r.status);
      await new Promise((res) => setTimeout(res, 1000 * clamp(Number(r.headers.get('Retry-After')) || 1, 1, 3)));
    }
  });
  opening = p.catch(() => {});
  return p;
}

// Loads the tile's clip for wall time T: the first recorded footage within
// WINDOW from T (asking only where the index has some, so no request is
// refused for lack of footage).
async function load(tile, T) {
  const my = ++tile.seq;
  tile.loading = true;
  tile.empty = null;
  setClip(tile, null); // its download slot is free for the next one
  const end = T + WINDOW;
  try {
    const rec = await api(`/api/cameras/${enc(tile.id)}/recordings?start=${iso(T)}&end=${iso(end)}`);
    if (my !== tile.seq) return;
    const run = rec.runs.find((r) => Date.parse(r.end) > T);
    if (!run) {
      setClip(tile, null);
      tile.empty = { from: T, to: end, until: performance.now() + RETRY };
      return;
    }
    // Up to the end of what is recorded, not beyond: a clip reaching past it
    // is a different file at every request (the camera adds to it), and the
    // player's later range requests would get bytes of another layout.
    const url = `/api/cameras/${enc(tile.id)}/clip.mp4?start=${iso(Math.max(T, Date.parse(run.start)))}&end=${run.end}`;
    const r = await openClip(url);
    if (my !== tile.seq) return;
    const s = Date.parse(r.headers.get('X-Clip-Start')), e = Date.parse(r.headers.get('X-Clip-End'));
    if (!Number.isFinite(s) || !(e > s)) throw new Error('clip: no X-Clip-Start/X-Clip-End');
    tile.asked = T;
    setClip(tile, url, s, e);
  } catch (e) {
    if (my !== tile.seq) return;
    setClip(tile, null);
    tile.empty = { from: -Infinity, to: Infinity, until: performance.now() + RETRY };
    showError(e);
  } finally {
    if (my === tile.seq) tile.loading = false;
  }
}

/* ---- the clock ---- */

// Whether every tile that has footage at the clock can play on.
function ready() {
  const T = S.clock.t;
  for (const tile of S.tiles.values()) {
    if (tile.loading) return false;
    if (covers(tile, T) && (tile.video.readyState < 3 || tile.video.seeking)) return false;
  }
  return true;
}

// Whether every tile with footage at the clock shows a moving picture: its
// currentTime has passed where its last play() began.
function moving() {
  const T = S.clock.t;
  for (const tile of S.tiles.values()) {
    const v = tile.video;
    if (covers(tile, T) && !v.ended && (v.paused || tile.playFrom === null || !(v.currentTime > tile.playFrom)))
      return false;
  }
  return true;
}

function tick() {
  const c = S.clock, now = performance.now();
  const dt = now - c.last;
  c.last = now;
  if (S.scrub) { showClock(); return; } // the pointer holds the clock
  // Held while a tile catches up (every tile waits then); never past what
  // can have been recorded. Then the crawl, until every picture moves.
  c.held = c.playing && !ready();
  if (c.held || !c.playing || moving()) c.cueFrom = null;
  else c.cueFrom ??= now;
  c.cueing = c.cueFrom !== null && now - c.cueFrom < CUE_MAX;
  if (c.playing && !c.held) {
    let T = Math.min(c.t + dt * (c.cueing ? CUE_RATE : c.rate), Date.now() - LIVE_EDGE);
    // The clock stops where a tile's clip ends: that tile loads its next clip
    // there (holding the clock), instead of standing on its last picture
    // while the others run on until the next tick notices.
    for (const tile of S.tiles.values()) if (covers(tile, c.t) && tile.end < T) T = tile.end;
    c.t = Math.max(c.t, T);
  }
  if (c.playing) skipGap();
  for (const tile of S.tiles.values()) syncTile(tile);
  if (c.playing && !S.scrub && (c.t < S.view.start || c.t > S.view.start + S.view.span)) {
    S.view.start = c.t - S.view.span * 0.1;
    viewChanged();
  }
  showClock();
}

// Playing through a stretch no tile has footage in: on to the next footage.
function skipGap() {
  const T = S.clock.t;
  let next = Infinity;
  for (const tile of S.tiles.values()) {
    if (tile.loading || covers(tile, T)) return;
    if (tile.start !== null && tile.start > T) next = Math.min(next, tile.start);
    else if (tile.empty && tile.empty.to < Date.now()) next = Math.min(next, tile.empty.to);
  }
  if (next < Infinity) S.clock.t = next;
}

function syncTile(tile) {
  if (tile.loading) return;
  const c = S.clock, T = c.t, v = tile.video;
  if (!covers(tile, T) || v.ended) {
    if (v.ended && covers(tile, T)) tile.end = T;          // the media ended before the headers said
    if (!v.paused) v.pause();
    const later = tile.start !== null && T >= tile.asked && T < tile.start;
    const e = tile.empty;
    const known = e && T >= e.from && T < e.to && performance.now() < e.until;
    if (!later && !known) {
      tile.note.textContent = t('pb.loading');
      load(tile, T);
      return;
    }
    if (!e || e.to !== Infinity) tile.note.textContent = t('pb.norec');
    tile.time.textContent = '';
    return;
  }
  tile.note.textContent = '';
  if (v.readyState < 1) return;
  const want = (T - tile.start) / 1000, diff = v.currentTime - want;
  tile.time.textContent = formatTime(new Date(tile.start + v.currentTime * 1000));
  if (!c.playing || c.held) {
    if (!v.paused) v.pause();
    tile.playFrom = null;
    // Paused, the exact picture; held, only what would be trimmed playing.
    if (Math.abs(diff) > (c.playing ? TRIM_OFF : 0.001) && !v.seeking) v.currentTime = want;
    return;
  }
  let rate = c.cueing ? CUE_RATE : c.rate;
  if (Math.abs(diff) > SEEK_OFF) {
    if (!v.seeking) v.currentTime = tile.playFrom = want;
  } else if (Math.abs(diff) > TRIM_OFF && !c.cueing) {
    // Close the gap in about a quarter of a second of wall time at any speed
    // (tiles resuming together after a hold start a few tens of ms apart:
    // at 4x that is over 0.1 s of picture). Each tick corrects 40 % of the
    // gap, so it does not overshoot.
    rate = clamp(c.rate - 4 * diff, c.rate * 0.5, c.rate * 1.5);
  }
  if (v.playbackRate !== rate) v.playbackRate = rate;
  if (v.paused) {
    tile.playFrom = v.currentTime;
    v.play().catch(() => {});
  }
}

function showClock() {
  const T = S.clock.t;
  const out = $('pb-clock');
  out.value = formatTime(new Date(T)) + '.' + String(Math.floor(T % 1000)).padStart(3, '0');
  out.dataset.t = String(Math.round(T));
  out.dataset.playing = String(S.clock.playing);
  out.dataset.held = String(S.clock.held);
  out.dataset.cueing = String(S.clock.cueing);
  $('pb-play').textContent = S.clock.playing ? '▮▮' : '▶';
  $('pb-play').title = t(S.clock.playing ? 'pb.pause' : 'pb.play');
  for (const el of S.root.querySelectorAll('.timeline .cursor')) el.style.left = pct(T);
}

function seek(T) {
  S.clock.t = T;
  if (T < S.view.start || T > S.view.start + S.view.span) {
    S.view.start = T - S.view.span / 2;
    viewChanged();
  }
  if (document.activeElement !== $('pb-goto')) $('pb-goto').value = formatTime(new Date(T)).replace(' ', 'T');
  tick();
}

function setPlaying(on) {
  S.clock.playing = on;
  S.clock.last = performance.now();
  tick();
}

// Pause and move by one frame of the first camera (its fps from /api/cameras).
function frameStep(dir) {
  const fps = cam(S.selected[0])?.fps || 25;
  S.clock.playing = false;
  seek(S.clock.t + dir * 1000 / fps);
}

/* ---- timelines ---- */

const pct = (ms) => (100 * (ms - S.view.start) / S.view.span) + '%';

function renderRows() {
  const rows = $('pb-rows');
  rows.replaceChildren();
  for (const id of S.selected) {
    const row = document.createElement('div');
    row.className = 'pb-row';
    const label = document.createElement('span');
    label.className = 'pb-label';
    label.textContent = cam(id)?.name || id;
    const note = document.createElement('small');
    note.className = 'pb-activity';
    label.appendChild(note);
    const tl = document.createElement('div');
    tl.className = 'timeline';
    tl.dataset.camera = id;
    tl.title = t('pb.timeline');
    tl.innerHTML = '<div class="layer"></div><canvas class="heat"></canvas><div class="hover" hidden></div><div class="cursor"></div>';
    wireTimeline(tl, id);
    row.append(label, tl);
    rows.appendChild(row);
    drawRow(id);
  }
  showClock();
}

function drawTicks() {
  const { start, span } = S.view;
  $('pb-timelines').dataset.start = String(Math.round(start));
  $('pb-timelines').dataset.span = String(Math.round(span));
  const step = TICKS.find((s) => s >= span / 8) || TICKS[TICKS.length - 1];
  const off = zoneOffset(start);
  const el = $('pb-ticks');
  el.replaceChildren();
  for (let x = Math.ceil((start + off) / step) * step - off; x < start + span; x += step) {
    const s = document.createElement('span');
    const f = formatTime(new Date(x));
    s.textContent = f.slice(11, 16) === '00:00' && step >= 3600e3 ? f.slice(5, 10) : f.slice(11, step < 60e3 ? 19 : 16);
    s.style.left = pct(x);
    el.appendChild(s);
  }
  $('pb-span').textContent = span >= 3600e3 ? t('pb.hours', { n: +(span / 3600e3).toFixed(1) })
                                            : t('pb.minutes', { n: +(span / 60e3).toFixed(1) });
}

function bar(cls, from, to, title) {
  const lo = Math.max(from, S.view.start), hi = Math.min(to, S.view.start + S.view.span);
  if (hi <= lo) return null;
  const d = document.createElement('div');
  d.className = cls;
  d.style.left = pct(lo);
  d.style.width = (100 * (hi - lo) / S.view.span) + '%';
  if (title) d.title = title;
  return d;
}

function drawRow(id) {
  const tl = S.root.querySelector(`.timeline[data-camera="${CSS.escape(id)}"]`);
  if (!tl) return;
  const d = S.data.get(id);
  const layer = tl.querySelector('.layer');
  layer.replaceChildren();
  const canvas = tl.querySelector('canvas');
  canvas.width = tl.clientWidth || 600;
  canvas.height = 12;
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, canvas.width, canvas.height);
  const note = tl.parentElement.querySelector('.pb-activity');
  note.textContent = '';
  if (!d) return;
  const span = (a, b) => `${formatTime(new Date(a))} → ${formatTime(new Date(b))}`;
  for (const r of d.rec?.gaps || []) {
    const a = Date.parse(r.start), b = Date.parse(r.end);
    const el = bar('gap', a, b, t('pb.gap') + ' ' + span(a, b));
    if (el) layer.appendChild(el);
  }
  for (const r of d.rec?.runs || []) {
    const a = Date.parse(r.start), b = Date.parse(r.end);
    const el = bar('run', a, b, span(a, b));
    if (el) layer.appendChild(el);
  }
  const act = d.act;
  tl.dataset.activity = act ? (act.available === false ? 'unavailable' : 'available') : '';
  if (act && act.available === false) {
    note.textContent = t('pb.noactivity');
    note.title = act.reason || '';
  } else if (act) {
    const a0 = Date.parse(act.start), step = act.step * 1000, w = canvas.width;
    act.values.forEach((v, i) => {
      if (v === null) return;
      const x0 = (a0 + i * step - S.view.start) / S.view.span * w;
      const x1 = (a0 + (i + 1) * step - S.view.start) / S.view.span * w;
      if (x1 < 0 || x0 > w) return;
      // Level 40 is pictures ~2.4 times their quiet size: clearly something moved.
      g.fillStyle = `rgba(214, 64, 20, ${(0.08 + 0.92 * Math.min(1, v / 80)).toFixed(2)})`;
      g.fillRect(x0, 0, Math.max(1, x1 - x0), canvas.height);
    });
  }
  for (const e of d.events || []) {
    const at = Date.parse(e.time);
    if (at < S.view.start || at > S.view.start + S.view.span) continue;
    const m = document.createElement('div');
    m.className = 'event';
    m.style.left = pct(at);
    m.title = `${e.type} ${formatTime(new Date(at))}${e.detail ? ' — ' + e.detail : ''}`;
    m.dataset.time = e.time;
    layer.appendChild(m);
  }
}

async function events(id, q) {
  if (!S.eventsOk) return [];
  try {
    return await api(`/api/events?camera=${enc(id)}&${q}&limit=1000`);
  } catch (e) {
    // Markers are for investigators: a lower role just goes without them.
    if (e.status === 403) S.eventsOk = false;
    return [];
  }
}

// Fetches what the timelines show for the current view (the newest answer wins).
async function fetchRows() {
  const my = ++S.fetchSeq, s = S, { start, span } = S.view;
  const q = `start=${iso(start)}&end=${iso(start + span)}`;
  const width = S.root.querySelector('.timeline')?.clientWidth || 600;
  const step = Math.max(1, Math.ceil(span / 1000 / Math.max(100, width / 2)));
  await Promise.all(S.selected.map(async (id) => {
    const base = `/api/cameras/${enc(id)}`;
    const [rec, act, ev] = await Promise.all([
      api(`${base}/recordings?${q}`).catch((e) => { showError(e); return null; }),
      api(`${base}/activity?${q}&step=${step}`).catch(() => null),
      events(id, q),
    ]);
    if (S !== s || my !== S.fetchSeq) return;
    S.data.set(id, { rec, act, events: ev });
    drawRow(id);
  }));
}

let fetchTimer = null;
function viewChanged() {
  drawTicks();
  for (const id of S.selected) drawRow(id);
  showClock();
  clearTimeout(fetchTimer);
  fetchTimer = setTimeout(fetchRows, 200);
}

function zoom(span, anchor) {
  const { start, span: old } = S.view;
  span = clamp(span, MIN_SPAN, MAX_SPAN);
  S.view = { span, start: anchor - (anchor - start) * span / old };
  viewChanged();
}

const timeAt = (tl, clientX) => {
  const r = tl.getBoundingClientRect();
  return S.view.start + clamp((clientX - r.left) / r.width, 0, 1) * S.view.span;
};

function wireTimeline(tl, id) {
  const hover = tl.querySelector('.hover');
  // A click on an event's marker goes to the event's exact time; a drag,
  // or a click anywhere else, to the time under the pointer.
  tl.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    tl.setPointerCapture(e.pointerId);
    const mark = e.target.closest('.event');
    S.scrub = { event: mark ? Date.parse(mark.dataset.time) : null, x: e.clientX };
    S.clock.t = S.scrub.event ?? timeAt(tl, e.clientX);
    showClock();
  });
  tl.addEventListener('pointermove', (e) => {
    const T = timeAt(tl, e.clientX);
    hover.hidden = false;
    hover.style.left = pct(T);
    if (S.scrub && Math.abs(e.clientX - S.scrub.x) > 2) {
      S.scrub.event = null;
      S.clock.t = T;
      showClock();
    }
    preview(id, T, e.clientX, tl.getBoundingClientRect().top);
  });
  tl.addEventListener('pointerup', (e) => {
    if (!S.scrub) return;
    const at = S.scrub.event ?? timeAt(tl, e.clientX);
    S.scrub = null;
    seek(at);
  });
  tl.addEventListener('pointerleave', () => { hover.hidden = true; preview(null); });
  tl.addEventListener('wheel', (e) => {
    e.preventDefault();
    if (Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      S.view.start += S.view.span * e.deltaX / 1000;
      viewChanged();
    } else {
      zoom(S.view.span * (e.deltaY > 0 ? 1.25 : 0.8), timeAt(tl, e.clientX));
    }
  }, { passive: false });
}

// A snapshot of the hovered time, asked for once the pointer rests and only
// where there is footage; one at a time (snapshots are a token's scarce slot).
// Snapshots are of the main stream whatever the camera records.
function preview(id, T, x, y) {
  const box = $('pb-preview');
  clearTimeout(S.previewTimer);
  const runs = id && S.data.get(id)?.rec?.runs || [];
  if (!id || !runs.some((r) => T >= Date.parse(r.start) && T < Date.parse(r.end))) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  box.style.left = Math.max(0, x - 100) + 'px';
  box.style.top = Math.max(0, y - 140) + 'px';
  box.querySelector('span').textContent = formatTime(new Date(T));
  S.previewTimer = setTimeout(() => {
    S.previewWant = `/api/cameras/${enc(id)}/snapshot.jpg?at=${iso(T)}`;
    nextPreview();
  }, 250);
}

function nextPreview() {
  const img = $('pb-preview').querySelector('img');
  if (S.previewBusy || !S.previewWant || img.getAttribute('src') === S.previewWant) return;
  S.previewBusy = true;
  img.src = S.previewWant;
}

/* ---- mount ---- */

// Space plays and pauses, the arrows step a frame (not while typing).
function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey || e.target.closest?.('input, select, textarea, button')) return;
  const act = { ' ': () => setPlaying(!S.clock.playing), ArrowLeft: () => frameStep(-1),
                ArrowRight: () => frameStep(1) }[e.key];
  if (act) { e.preventDefault(); act(); }
}

export async function mount(el, ctx) {
  const s = S = {
    root: el, ctx, cameras: [], selected: [], tiles: new Map(), data: new Map(),
    clock: { t: Date.now() - 5 * 60e3, rate: 1, playing: true, last: performance.now(), held: false,
             cueing: false, cueFrom: null },
    view: { start: 0, span: 3600e3 }, fetchSeq: 0, scrub: null, timers: [],
    eventsOk: !ctx.auth || ['investigator', 'admin'].includes(ctx.user?.role),
  };
  el.innerHTML = TEMPLATE;
  apply(el);
  for (const [id, key, hint] of [['pb-prev', 'pb.prevFrame', ' (←)'], ['pb-next', 'pb.nextFrame', ' (→)'],
                                 ['pb-in', 'pb.zoomIn'], ['pb-out', 'pb.zoomOut'], ['pb-earlier', 'pb.earlier'],
                                 ['pb-later', 'pb.later']]) {
    $(id).title = t(key) + (hint || '');
    $(id).setAttribute('aria-label', t(key));
  }
  document.addEventListener('keydown', onKey);
  $('pb-play').addEventListener('click', () => setPlaying(!S.clock.playing));
  $('pb-prev').addEventListener('click', () => frameStep(-1));
  $('pb-next').addEventListener('click', () => frameStep(1));
  $('pb-speed').addEventListener('change', (e) => { S.clock.rate = Number(e.target.value); tick(); });
  $('pb-goto').addEventListener('change', (e) => {
    const T = parseZoned(e.target.value);
    if (Number.isFinite(T)) seek(T);
  });
  $('pb-in').addEventListener('click', () => zoom([...SPANS].reverse().find((x) => x < S.view.span) || MIN_SPAN, S.clock.t));
  $('pb-out').addEventListener('click', () => zoom(SPANS.find((x) => x > S.view.span) || MAX_SPAN, S.clock.t));
  $('pb-earlier').addEventListener('click', () => { S.view.start -= S.view.span / 2; viewChanged(); });
  $('pb-later').addEventListener('click', () => { S.view.start += S.view.span / 2; viewChanged(); });
  $('pb-filter').addEventListener('input', renderList);
  const img = $('pb-preview').querySelector('img');
  const done = () => { if (S) { S.previewBusy = false; nextPreview(); } };
  img.addEventListener('load', done);
  img.addEventListener('error', done);

  try {
    s.cameras = await api('/api/cameras');
  } catch (e) {
    showError(e);
  }
  if (S !== s) return;
  const p = ctx.params, k = kept && kept.params === String(p) ? kept : null;
  const want = (p.get('cameras') || p.get('camera') || '').split(',').filter((id) => cam(id));
  s.selected = want.length ? [...new Set(want)].slice(0, MAX_TILES)
                           : s.cameras.filter((c) => c.status !== 'disabled').slice(0, 1).map((c) => c.id);
  const t0 = parseT(p.get('t'));
  if (t0 !== null) s.clock.t = t0;
  s.view.start = s.clock.t - s.view.span / 2;
  if (k) {
    s.selected = k.selected.filter((id) => cam(id));
    Object.assign(s.clock, { t: k.t, rate: k.rate, playing: k.playing });
    s.view = { ...k.view };
    $('pb-speed').value = String(k.rate);
  }
  renderList();
  renderTiles();
  renderRows();
  drawTicks();
  fetchRows();
  seek(s.clock.t);
  s.timers.push(setInterval(tick, TICK));
  // Near the present the timelines grow: fetch them again now and then.
  s.timers.push(setInterval(() => {
    if (S.view.start + S.view.span > Date.now() - 60e3) fetchRows();
  }, 5000));
  s.timers.push(setInterval(async () => {
    const list = await api('/api/cameras').catch(() => null);
    if (S === s && list) { s.cameras = list; renderList(); }
  }, 15000));
  s.mounted = true;
}

export function unmount() {
  if (!S) return;
  if (S.mounted) {
    kept = { params: String(S.ctx.params), selected: S.selected, t: S.clock.t, rate: S.clock.rate,
             playing: S.clock.playing, view: S.view };
  }
  document.removeEventListener('keydown', onKey);
  for (const id of S.timers) clearInterval(id);
  clearTimeout(S.previewTimer);
  clearTimeout(fetchTimer);
  for (const tile of S.tiles.values()) dropTile(tile);
  S = null;
}
