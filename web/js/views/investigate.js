// Investigations: an area (district, site or one camera) and a time range
// typed in the console's zone → which cameras recorded and where something
// moved; a case opened from the cameras picked there, exported, its evidence
// bundle downloaded; full-text search of events, each opening playback a few
// seconds before it; and a case's own page (#/investigate?case=ID) with its
// cameras, locks, exports, notes, closing and chain of custody.
import { api, headers } from '../api.js';
import { t, register } from '../i18n.js';
import { formatTime, timeZone } from '../time.js';
import { fromZoneInput, toZoneInput, utc } from '../zoneinput.js';
import dict from '../i18n/investigate.js';

register(dict);

const ROLES = ['investigator', 'admin'];
const PRE_ROLL_MS = 5000;      // playback opens this long before an event
const STRIPS = 32;             // heat strips fetched for one query at most

// What was asked and found, kept across re-mounts (a language change, a trip
// to playback and back) so the operator finds the page as they left it.
const state = { area: '', start: '', end: '', q: '', type: '', all: false,
                found: null, events: null };
let root = null, gen = 0;

// h('p', {class: 'x', id: 'y', onclick: f}, 'text', child, ...)
function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k in e && typeof v !== 'string') e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids.flat(Infinity)) if (k !== null && k !== undefined && k !== false) e.append(k);
  return e;
}

const q = (id) => root && root.querySelector('#' + id);
const range = (s, e) => formatTime(s) + ' – ' + formatTime(e);
const enc = encodeURIComponent;
const query = (o) => Object.entries(o).filter(([, v]) => v !== '' && v != null)
  .map(([k, v]) => k + '=' + enc(v)).join('&');
const translated = (key, fallback) => { const s = t(key); return s === key ? fallback : s; };
const playbackHref = (camera, time) =>
  `#/playback?camera=${enc(camera)}&t=${utc(new Date(new Date(time).getTime() - PRE_ROLL_MS))}`;

function duration(s) {
  s = Math.round(s);
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  return (hh ? hh + ' h ' : '') + (hh || mm ? mm + ' min ' : '') + ss + ' s';
}

function showError(where, e) {
  const el = q(where);
  if (el) el.textContent = e ? t('inv.failed', { error: e.message || e }) : '';
}

// Guards an answer against the view having been left or re-mounted meanwhile.
async function fetchFor(my, path, opts) {
  const r = await api(path, opts);
  if (my !== gen) throw Object.assign(new Error('stale'), { stale: true });
  return r;
}

export async function mount(el, ctx) {
  root = el;
  const my = ++gen;
  const role = ctx.user?.role;
  if (!ROLES.includes(role)) {
    el.replaceChildren(h('p', { id: 'inv-denied', class: 'inv-denied' },
                         t('inv.need_role', { role: role || '—' })));
    return;
  }
  const id = ctx.params.get('case');
  try {
    if (id) await casePage(my, id);
    else await mainPage(my);
  } catch (e) {
    if (e.stale) return;
    // e.g. a case that does not exist: the page was not drawn
    if (!q('inv-error')) el.replaceChildren(h('p', { id: 'inv-error', class: 'inv-error' }));
    showError('inv-error', e);
  }
}

export function unmount() { gen++; root = null; }

/* ---- the main page: area and range, events, cases ---- */

// An area select's value: '' (every camera), 'd\u0000District',
// 's\u0000District\u0000site' or 'c\u0000camera-id'.
function areaParams(v, cameras) {
  const [kind, a, b] = (v || '').split('\u0000');
  if (kind === 'd') return { district: a };
  if (kind === 's') return { district: a, site: b };
  if (kind === 'c') {
    const c = cameras.find((x) => x.id === a);
    return { camera: a, district: c?.district || '', site: c?.site || '' };
  }
  return {};
}

function areaSelect(cameras) {
  const districts = new Map();
  for (const c of cameras) {
    if (!districts.has(c.district)) districts.set(c.district, new Set());
    if (c.site) districts.get(c.district).add(c.site);
  }
  const sel = h('select', { id: 'inv-area-select', 'aria-label': t('inv.area') },
                h('option', { value: '' }, t('inv.all')));
  const dg = h('optgroup', { label: t('inv.districts') });
  const sg = h('optgroup', { label: t('inv.sites') });
  for (const [d, sites] of [...districts].sort((x, y) => x[0].localeCompare(y[0]))) {
    if (d) dg.append(h('option', { value: 'd\u0000' + d }, d));
    for (const s of [...sites].sort()) {
      sg.append(h('option', { value: `s\u0000${d}\u0000${s}` }, (d || t('inv.nodistrict')) + ' › ' + s));
    }
  }
  const cg = h('optgroup', { label: t('inv.cameras') },
               cameras.map((c) => h('option', { value: 'c\u0000' + c.id }, `${c.name || c.id} (${c.id})`)));
  sel.append(...[dg, sg, cg].filter((g) => g.children.length));
  sel.value = state.area;
  if (sel.value !== state.area) sel.value = '';
  return sel;
}

async function mainPage(my) {
  const cameras = await fetchFor(my, '/api/cameras');
  if (!state.start) {
    const now = Date.now();
    state.start = toZoneInput(new Date(now - 3600 * 1000));
    state.end = toZoneInput(new Date(now + 60 * 1000));
  }
  const zone = h('small', {}, t('inv.zone', { zone: timeZone() }));
  const form = h('form', { id: 'inv-query', class: 'inv-form', onsubmit: (e) => { e.preventDefault(); find(my, cameras); } },
    h('label', {}, t('inv.area'), ' ', areaSelect(cameras)),
    h('label', {}, t('inv.from'), ' ', h('input', { id: 'inv-start', type: 'datetime-local', step: '1', value: state.start, required: true })),
    h('label', {}, t('inv.to'), ' ', h('input', { id: 'inv-end', type: 'datetime-local', step: '1', value: state.end, required: true })),
    zone,
    h('button', { id: 'inv-find', type: 'submit' }, t('inv.find')));
  const search = h('form', { id: 'inv-search-form', class: 'inv-form', onsubmit: (e) => { e.preventDefault(); searchEvents(my, cameras); } },
    h('input', { id: 'inv-q', type: 'search', placeholder: t('inv.q'), value: state.q, 'aria-label': t('inv.q') }),
    h('input', { id: 'inv-type', size: 10, placeholder: t('inv.type'), value: state.type, 'aria-label': t('inv.type') }),
    h('button', { id: 'inv-search', type: 'submit' }, t('inv.search')));
  root.replaceChildren(h('div', { class: 'investigate' },
    h('section', { class: 'inv-area' },
      h('h2', {}, t('inv.area_title')), form,
      h('p', { id: 'inv-error', class: 'inv-error' }),
      h('div', { id: 'inv-found' })),
    h('section', { class: 'inv-side' },
      h('h2', {}, t('inv.search_title')), search,
      h('p', { id: 'inv-search-error', class: 'inv-error' }),
      h('div', { id: 'inv-events' }),
      h('h2', {}, t('inv.cases')),
      h('label', {}, h('input', { id: 'inv-all', type: 'checkbox', checked: state.all,
                                  onchange: (e) => { state.all = e.target.checked; listCases(my); } }),
        ' ', t('inv.show_closed')),
      h('div', { id: 'inv-cases' }))));
  if (state.found) renderFound(my, state.found);
  if (state.events) renderEvents(state.events);
  await listCases(my);
}

// The form's area and range, in the API's terms; null (with a message) when
// the range is not a range.
function readQuery(cameras) {
  state.area = q('inv-area-select').value;
  state.start = q('inv-start').value;
  state.end = q('inv-end').value;
  const s = fromZoneInput(state.start), e = fromZoneInput(state.end);
  if (!s || !e || e <= s) { showError('inv-error', t('inv.bad_range')); return null; }
  return { area: areaParams(state.area, cameras), start: utc(s), end: utc(e) };
}

async function find(my, cameras) {
  const rq = readQuery(cameras);
  if (!rq) return;
  showError('inv-error', null);
  const { camera, district, site } = rq.area;
  const area = camera ? {} : { district, site };
  try {
    const [cov, act] = await Promise.all([
      fetchFor(my, '/api/coverage?' + query({ ...area, start: rq.start, end: rq.end })),
      fetchFor(my, '/api/activity/search?' + query({ district, site, start: rq.start, end: rq.end })),
    ]);
    const only = (x) => !camera || x.camera === camera || x.id === camera;
    state.found = {
      start: rq.start, end: rq.end, area: rq.area,
      cameras: cov.cameras.filter(only),
      intervals: act.intervals.filter(only),
      unavailable: new Map(act.unavailable.filter(only).map((u) => [u.camera, u.reason])),
    };
    renderFound(my, state.found);
  } catch (e) {
    if (!e.stale) showError('inv-error', e);
  }
}

function heatStrip(my, camera, start, end) {
  const cv = h('canvas', { class: 'inv-heat', width: 240, height: 14, dataset: { camera } });
  api(`/api/cameras/${enc(camera)}/activity?` + query({ start, end })).then((a) => {
    if (my !== gen) return;
    if (!a.available) {
      cv.replaceWith(h('span', { class: 'inv-unavailable' }, t('inv.unavailable')));
      return;
    }
    const g = cv.getContext('2d'), n = a.values.length || 1, w = cv.width / n;
    a.values.forEach((v, i) => {
      // nothing recorded: grey; recorded: pale to deep red with the level
      g.fillStyle = v === null ? '#d9dce1' : `hsl(${Math.max(0, 50 - v / 2.5)}, 90%, ${92 - Math.min(v, 250) / 5}%)`;
      g.fillRect(Math.floor(i * w), 0, Math.ceil(w), cv.height);
    });
    cv.dataset.values = String(a.values.length);
  }).catch(() => { /* the strip is a hint; the table stands without it */ });
  return cv;
}

function renderFound(my, f) {
  const box = q('inv-found');
  if (!box) return;
  if (!f.cameras.length) { box.replaceChildren(h('p', {}, t('inv.none_found'))); return; }
  const recorded = f.cameras.filter((c) => c.covered_seconds > 0).length;
  const names = Object.fromEntries(f.cameras.map((c) => [c.id, c.name || c.id]));
  let strips = 0;
  const rows = f.cameras.map((c) => {
    const why = f.unavailable.get(c.id);
    let act = '';
    if (why !== undefined) act = h('span', { class: 'inv-unavailable', title: why }, t('inv.unavailable'));
    else if (c.covered_seconds > 0 && strips++ < STRIPS) act = heatStrip(my, c.id, f.start, f.end);
    return h('tr', { dataset: { camera: c.id }, class: c.covered_seconds > 0 ? 'inv-rec' : 'inv-norec' },
      h('td', {}, h('input', { type: 'checkbox', class: 'inv-pick', value: c.id, checked: c.covered_seconds > 0,
                               'aria-label': c.id })),
      h('td', {}, h('a', { href: playbackHref(c.id, new Date(new Date(f.start).getTime() + PRE_ROLL_MS)) }, c.name || c.id),
        ' ', h('small', {}, c.id)),
      h('td', {}, [c.district, c.site].filter(Boolean).join(' › ')),
      h('td', { class: 'inv-covered' }, c.covered_seconds > 0 ? duration(c.covered_seconds) : t('inv.not_recorded')),
      h('td', { class: 'inv-act' }, act));
  });
  const ivs = f.intervals.slice(0, 10).map((iv) => h('li', { dataset: { camera: iv.camera } },
    h('a', { href: playbackHref(iv.camera, iv.start) }, names[iv.camera] || iv.camera), ' ', range(iv.start, iv.end), ' · ',
    t('inv.peak', { peak: iv.peak })));
  const title = h('input', { id: 'inv-case-title', placeholder: t('inv.title'), 'aria-label': t('inv.title'), size: 30 });
  const reason = h('input', { id: 'inv-case-reason', placeholder: t('inv.reason'), 'aria-label': t('inv.reason'), size: 30 });
  const create = h('form', { id: 'inv-case-form', class: 'inv-form', onsubmit: (e) => { e.preventDefault(); createCase(my, f); } },
    h('strong', {}, t('inv.new_case')), title, reason, h('button', { id: 'inv-create', type: 'submit' }, t('inv.create')));
  box.replaceChildren(
    h('p', { id: 'inv-summary' }, t('inv.summary', { n: recorded, total: f.cameras.length }), ' ', range(f.start, f.end)),
    h('table', { id: 'inv-coverage' },
      h('thead', {}, h('tr', {}, h('th', {}), h('th', {}, t('inv.camera')), h('th', {}, t('inv.where')),
                                h('th', {}, t('inv.recorded')), h('th', {}, t('inv.activity')))),
      h('tbody', {}, rows)),
    h('h3', {}, t('inv.intervals')),
    ivs.length ? h('ol', { id: 'inv-intervals' }, ivs) : h('p', {}, t('inv.no_intervals')),
    create,
    h('p', { id: 'inv-case-error', class: 'inv-error' }));
}

async function createCase(my, f) {
  const cameras = [...root.querySelectorAll('#inv-coverage .inv-pick:checked')].map((c) => c.value);
  const title = q('inv-case-title').value.trim(), reason = q('inv-case-reason').value.trim();
  if (!cameras.length) return showError('inv-case-error', t('inv.pick_cameras'));
  if (!title || !reason) return showError('inv-case-error', t('inv.need_title'));
  try {
    const c = await fetchFor(my, '/api/cases', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ title, reason, start: f.start, end: f.end, cameras }),
    });
    location.hash = '#/investigate?case=' + c.id;
  } catch (e) {
    if (!e.stale) showError('inv-case-error', e);
  }
}

async function searchEvents(my, cameras) {
  const rq = readQuery(cameras);
  if (!rq) return;
  state.q = q('inv-q').value.trim();
  state.type = q('inv-type').value.trim();
  showError('inv-search-error', null);
  try {
    const r = await fetch('/api/events?' + query({ q: state.q, type: state.type, ...rq.area,
                                                   start: rq.start, end: rq.end, limit: 500 }),
                          { credentials: 'same-origin', headers: headers() });
    const body = await r.json().catch(() => ({}));
    if (my !== gen) return;
    if (!r.ok) throw new Error(body.error || 'HTTP ' + r.status);
    state.events = { list: body, truncated: r.headers.get('X-Events-Truncated') === '1', names:
      Object.fromEntries(cameras.map((c) => [c.id, c.name || c.id])) };
    renderEvents(state.events);
  } catch (e) {
    showError('inv-search-error', e);
  }
}

function eventText(e) {
  const parts = [];
  if (e.text) parts.push(e.text);
  const plate = e.attributes && e.attributes.plate;
  if (plate && !(e.text || '').includes(plate)) parts.push(plate);
  if (!parts.length && e.detail) parts.push(e.detail);
  return parts.join(' · ');
}

function renderEvents(ev) {
  const box = q('inv-events');
  if (!box) return;
  if (!ev.list.length) { box.replaceChildren(h('p', {}, t('inv.no_events'))); return; }
  const rows = ev.list.map((e) => {
    // an area's event (no camera of its own) plays on its area's first camera
    const area = (e.clips || []).map((c) => c.camera);
    const cam = e.camera || area[0];
    const play = (id, text) => h('a', { class: 'inv-play', href: playbackHref(id, e.time), title: t('inv.play') }, text);
    return h('tr', { dataset: { event: e.id } },
      h('td', { class: 'inv-when' }, cam ? play(cam, formatTime(e.time)) : formatTime(e.time)),
      h('td', {}, e.camera ? ev.names[e.camera] || e.camera
        : [[e.district, e.site].filter(Boolean).join(' › '), ' ',
           area.slice(0, 3).map((id) => [play(id, ev.names[id] || id), ' ']),
           area.length > 3 ? '+' + (area.length - 3) : '']),
      h('td', {}, e.type),
      h('td', { class: 'inv-text' }, eventText(e)));
  });
  box.replaceChildren(
    h('p', {}, t('inv.events_found', { n: ev.list.length }), ' ', ev.truncated ? t('inv.truncated') : ''),
    h('table', { id: 'inv-event-list' },
      h('thead', {}, h('tr', {}, h('th', {}, t('inv.time')), h('th', {}, t('inv.camera')),
                                h('th', {}, t('inv.etype')), h('th', {}, t('inv.text')))),
      h('tbody', {}, rows)));
}

async function listCases(my) {
  const box = q('inv-cases');
  try {
    const cases = await fetchFor(my, '/api/cases' + (state.all ? '?all=1' : ''));
    if (!cases.length) { box.replaceChildren(h('p', {}, t('inv.no_cases'))); return; }
    box.replaceChildren(h('table', { id: 'inv-case-list' },
      h('thead', {}, h('tr', {}, h('th', {}, '#'), h('th', {}, t('inv.title')), h('th', {}, t('inv.status')),
                                h('th', {}, t('inv.created_by')), h('th', {}, t('inv.range')))),
      h('tbody', {}, cases.map((c) => h('tr', { dataset: { case: c.id } },
        h('td', {}, h('a', { href: '#/investigate?case=' + c.id }, '#' + c.id)),
        h('td', {}, h('a', { href: '#/investigate?case=' + c.id }, c.title)),
        h('td', {}, t('inv.status.' + c.status)),
        h('td', {}, c.created_by),
        h('td', {}, range(c.start, c.end)))))));
  } catch (e) {
    if (!e.stale) box.replaceChildren(h('p', { class: 'inv-error' }, t('inv.failed', { error: e.message })));
  }
}

/* ---- a case's page ---- */

function table(id, head, rows, empty) {
  if (!rows.length) return h('p', { id }, empty);
  return h('table', { id }, h('thead', {}, h('tr', {}, head.map((x) => h('th', {}, x)))), h('tbody', {}, rows));
}

async function casePage(my, id) {
  const c = await fetchFor(my, '/api/cases/' + enc(id));
  const open = c.status === 'open';
  const post = async (path, body, errId) => {
    try {
      await fetchFor(my, `/api/cases/${c.id}/${path}`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      await casePage(my, id);
    } catch (e) {
      if (!e.stale) showError(errId, e);
    }
  };
  const cams = c.cameras.map((x) => h('tr', { dataset: { camera: x.id } },
    h('td', {}, h('a', { href: playbackHref(x.id, new Date(new Date(c.start).getTime() + PRE_ROLL_MS)) }, x.name || x.id),
      ' ', h('small', {}, x.id)),
    h('td', {}, [x.district, x.site].filter(Boolean).join(' › ')),
    h('td', {}, x.covered_seconds > 0 ? duration(x.covered_seconds) : t('inv.not_recorded')),
    h('td', {}, x.lock ? '#' + x.lock : '—')));
  const locks = c.locks.map((l) => h('tr', { dataset: { released: l.released ? '1' : '0' } },
    h('td', {}, '#' + l.id), h('td', {}, l.camera), h('td', {}, range(l.start, l.end)), h('td', {}, l.reason),
    h('td', {}, l.released ? t('inv.released', { by: l.released_by, at: formatTime(l.released) }) : t('inv.in_force'))));
  const exps = c.exports.map((x) => h('tr', { dataset: { export: x.id } },
    h('td', {}, '#' + x.id), h('td', { class: 'inv-when' }, formatTime(x.created)), h('td', {}, x.created_by), h('td', {}, x.reason),
    h('td', {}, range(x.start, x.end)),
    h('td', {}, h('a', { class: 'inv-bundle', href: x.bundle, download: `export-${x.id}.zip` }, t('inv.bundle')))));
  const notes = c.notes.map((n) => h('li', { dataset: { note: n.id } },
    h('small', {}, formatTime(n.time), ' · ', n.author), ' ', h('span', { class: 'inv-note-text' }, n.text)));
  const custody = c.custody.map((a) => h('tr', { dataset: { action: a.action } },
    h('td', { class: 'inv-when' }, formatTime(a.time)), h('td', {}, a.token), h('td', {}, translated('inv.act.' + a.action, a.action)),
    h('td', {}, a.camera || ''), h('td', {}, a.start ? range(a.start, a.end) : ''),
    h('td', { class: 'inv-detail' }, a.detail || '')));
  const exportBtn = h('button', { id: 'inv-export', type: 'submit' }, t('inv.export'));
  const forms = open ? [
    h('form', { id: 'inv-export-form', class: 'inv-form', onsubmit: (e) => {
      e.preventDefault();
      exportBtn.disabled = true;
      exportBtn.textContent = t('inv.exporting');
      post('exports', { reason: q('inv-export-reason').value.trim() || c.reason }, 'inv-case-error');
    } }, h('input', { id: 'inv-export-reason', size: 40, placeholder: t('inv.export_reason'),
                      'aria-label': t('inv.export_reason') }), exportBtn),
  ] : [];
  root.replaceChildren(h('div', { class: 'investigate inv-case', id: 'inv-case', dataset: { case: c.id, status: c.status } },
    h('p', {}, h('a', { href: '#/investigate' }, t('inv.back'))),
    h('h2', {}, t('inv.case', { id: c.id }), ' — ', h('span', { id: 'inv-case-title-text' }, c.title), ' ',
      h('span', { class: 'inv-status inv-status-' + c.status }, t('inv.status.' + c.status))),
    h('p', {}, t('inv.range'), ': ', range(c.start, c.end)),
    h('p', {}, t('inv.meta', { by: c.created_by, at: formatTime(c.created), reason: c.reason })),
    open ? '' : h('p', {}, t('inv.closed_meta', { by: c.closed_by, at: formatTime(c.closed), reason: c.close_reason })),
    h('p', { id: 'inv-case-error', class: 'inv-error' }),
    h('h3', {}, t('inv.cameras')),
    table('inv-case-cameras', [t('inv.camera'), t('inv.where'), t('inv.recorded'), t('inv.lock')], cams, ''),
    h('h3', {}, t('inv.locks')),
    table('inv-locks', ['#', t('inv.camera'), t('inv.range'), t('inv.reason'), t('inv.status')], locks,
          t('inv.no_locks')),
    h('h3', {}, t('inv.exports')),
    table('inv-exports', ['#', t('inv.time'), t('inv.created_by'), t('inv.reason'), t('inv.range'), ''], exps,
          t('inv.no_exports')),
    forms,
    h('h3', {}, t('inv.notes')),
    notes.length ? h('ul', { id: 'inv-notes' }, notes) : h('p', { id: 'inv-notes' }, t('inv.no_notes')),
    open ? h('form', { id: 'inv-note-form', class: 'inv-form', onsubmit: (e) => {
      e.preventDefault();
      const text = q('inv-note').value.trim();
      if (text) post('notes', { text }, 'inv-case-error');
    } }, h('textarea', { id: 'inv-note', rows: 2, cols: 60, placeholder: t('inv.note_text'), 'aria-label': t('inv.note_text') }),
      h('button', { id: 'inv-add-note', type: 'submit' }, t('inv.add_note'))) : '',
    open ? h('form', { id: 'inv-close-form', class: 'inv-form', onsubmit: (e) => {
      e.preventDefault();
      const reason = q('inv-close-reason').value.trim();
      if (reason) post('close', { reason }, 'inv-case-error');
    } }, h('input', { id: 'inv-close-reason', size: 40, placeholder: t('inv.close_reason'), required: true,
                      'aria-label': t('inv.close_reason') }),
      h('button', { id: 'inv-close', type: 'submit' }, t('inv.close')), ' ', h('small', {}, t('inv.close_note'))) : '',
    h('h3', {}, t('inv.custody')),
    table('inv-custody', [t('inv.time'), t('inv.who'), t('inv.action'), t('inv.camera'), t('inv.range'), t('inv.detail')],
          custody, '')));
}
