// Video wall: a grid of 1/4/9/16 live tiles (sub stream when the camera has
// one, main stream in full screen), cameras picked from a district → site
// tree with their status. The layout and the cameras in it are kept per user
// in localStorage, so an operator's wall comes back as they left it.
import { api } from '../api.js';
import { playLive } from '../live.js';
import { t, register, apply } from '../i18n.js';
import dict from '../i18n/wall.js';

register(dict);

const SIZES = [1, 4, 9, 16];
let root = null, ctxRef = null, cameras = [], players = [], full = null, timer = null;
let layout = { size: 4, tiles: [] };

const storeKey = () => 'vigil-wall:' + (ctxRef?.user?.name || 'local');

function load() {
  try {
    const l = JSON.parse(localStorage.getItem(storeKey()) || 'null');
    if (l && SIZES.includes(l.size) && Array.isArray(l.tiles)) layout = l;
  } catch { /* a bad saved layout: start over */ }
}

function save() { localStorage.setItem(storeKey(), JSON.stringify(layout)); }

const liveUrl = (c, main) =>
  `/api/cameras/${encodeURIComponent(c.id)}/live.mp4` + (!main && c.sub ? '?stream=sub' : '');

function stopAll() {
  for (const p of players) if (p) p.stop();
  players = [];
}

function tileEl(i, id, main) {
  const c = cameras.find((x) => x.id === id);
  const fig = document.createElement('figure');
  fig.className = 'tile';
  fig.dataset.index = i;
  if (!c) {
    fig.classList.add('empty');
    const p = document.createElement('p');
    p.textContent = t('wall.empty');
    fig.appendChild(p);
    return { fig, player: null };
  }
  fig.dataset.camera = c.id;
  const v = document.createElement('video');
  v.muted = true; v.playsInline = true; v.autoplay = true;
  const cap = document.createElement('figcaption');
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = c.name;
  const lat = document.createElement('span');
  lat.className = 'latency';
  lat.textContent = '…';
  const reason = document.createElement('span');
  reason.className = 'reason';
  cap.append(name, ' ', lat, ' ', reason);
  const btn = document.createElement('button');
  btn.className = 'full';
  btn.textContent = main ? t('wall.close') : t('wall.full');
  btn.addEventListener('click', () => { full = main ? null : c.id; render(); });
  // What just happened: the same camera in playback from half a minute ago.
  const back = document.createElement('button');
  back.className = 'back';
  back.textContent = t('wall.back30');
  back.addEventListener('click', () => {
    location.hash = `#/playback?camera=${encodeURIComponent(c.id)}&t=${new Date(Date.now() - 30e3).toISOString()}`;
  });
  fig.append(v, cap, back, btn);
  fig.addEventListener('dblclick', () => { full = main ? null : c.id; render(); });
  const player = playLive(v, liveUrl(c, main), {
    onLatency: (l) => { lat.textContent = t('wall.behind', { s: l.toFixed(2) }); lat.dataset.latency = l.toFixed(3); },
    onError: (e) => {
      fig.classList.toggle('down', !!e);
      reason.textContent = !e ? '' : e.unsupported ? t('wall.unsupported', { codec: e.unsupported })
        : (c.reason || t('wall.offline'));
    },
  });
  if (c.status === 'offline' || c.status === 'disabled') {
    fig.classList.add('down');
    reason.textContent = c.reason || t('status.' + c.status);
  }
  return { fig, player };
}

function render() {
  stopAll();
  const grid = root.querySelector('#wall-grid');
  grid.replaceChildren();
  for (const b of root.querySelectorAll('#wall-layouts button')) {
    b.classList.toggle('active', Number(b.dataset.size) === layout.size);
  }
  const n = full ? 1 : layout.size;
  grid.style.setProperty('--cols', String(Math.sqrt(n)));
  grid.classList.toggle('fullscreen', !!full);
  for (let i = 0; i < n; i++) {
    const { fig, player } = tileEl(i, full || layout.tiles[i], !!full);
    grid.appendChild(fig);
    players.push(player);
  }
}

// Put a camera in the first free tile (or the last one when all are taken).
function pick(id) {
  full = null;
  const tiles = layout.tiles.slice(0, layout.size);
  if (tiles.includes(id)) return;
  let i = 0;
  while (i < layout.size - 1 && tiles[i]) i++;
  layout.tiles[i] = id;
  save();
  render();
}

function tree() {
  const el = root.querySelector('#wall-tree');
  const by = new Map();
  for (const c of cameras) {
    const d = c.district || t('wall.nodistrict');
    if (!by.has(d)) by.set(d, new Map());
    const sites = by.get(d);
    if (!sites.has(c.site)) sites.set(c.site, []);
    sites.get(c.site).push(c);
  }
  const ul = document.createElement('ul');
  for (const [d, sites] of by) {
    const li = document.createElement('li');
    const det = document.createElement('details');
    det.open = true;
    const sum = document.createElement('summary');
    sum.textContent = d;
    det.appendChild(sum);
    for (const [s, cams] of sites) {
      const sd = document.createElement('details');
      sd.open = true;
      const ss = document.createElement('summary');
      ss.textContent = s;
      sd.appendChild(ss);
      const cl = document.createElement('ul');
      for (const c of cams) {
        const ci = document.createElement('li');
        const b = document.createElement('button');
        b.className = 'cam status-' + c.status;
        b.dataset.id = c.id;
        b.title = c.reason || t('status.' + c.status);
        b.textContent = `${c.name} · ${t('status.' + c.status)}`;
        b.addEventListener('click', () => pick(c.id));
        ci.appendChild(b);
        cl.appendChild(ci);
      }
      sd.appendChild(cl);
      det.appendChild(sd);
    }
    li.appendChild(det);
    ul.appendChild(li);
  }
  el.replaceChildren(ul);
}

async function refresh(first) {
  let list;
  try {
    list = await api('/api/cameras');
  } catch (e) {
    if (root) root.querySelector('#wall-error').textContent = String(e.message || e);
    return;
  }
  if (!root) return; // left the wall meanwhile
  cameras = list;
  root.querySelector('#wall-error').textContent = '';
  tree();
  if (first) {
    // A first visit: fill the wall with the cameras that are up.
    if (!layout.tiles.some(Boolean)) {
      layout.tiles = cameras.filter((c) => c.status !== 'disabled').map((c) => c.id).slice(0, layout.size);
    }
    render();
  } else {
    for (const fig of root.querySelectorAll('.tile[data-camera]')) {
      const c = cameras.find((x) => x.id === fig.dataset.camera);
      const down = c && (c.status === 'offline' || c.status === 'disabled');
      if (down) { fig.classList.add('down'); fig.querySelector('.reason').textContent = c.reason || t('status.' + c.status); }
    }
  }
}

export async function mount(el, ctx) {
  root = el;
  ctxRef = ctx;
  full = null;
  layout = { size: 4, tiles: [] };
  load();
  el.innerHTML = `
<div class="wall">
  <aside><h2 data-i18n="wall.cameras"></h2><div id="wall-tree"></div><p id="wall-error" role="alert"></p></aside>
  <section>
    <div id="wall-layouts"><span data-i18n="wall.layout"></span>
      ${SIZES.map((n) => `<button data-size="${n}">${n}</button>`).join('')}</div>
    <div id="wall-grid"></div>
  </section>
</div>`;
  apply(el);
  for (const b of el.querySelectorAll('#wall-layouts button')) {
    b.addEventListener('click', () => { layout.size = Number(b.dataset.size); full = null; save(); render(); });
  }
  const want = Number(ctx.params.get('layout'));
  if (SIZES.includes(want)) layout.size = want;
  await refresh(true);
  if (root !== el) return; // left the wall meanwhile
  timer = setInterval(() => refresh(false), 5000);
}

export function unmount() {
  stopAll();
  clearInterval(timer);
  timer = null;
  root = null;
}
