// Administration: the cameras' health (refreshed every few seconds, sorted and
// filtered by status and district), the evidence locks in force (released
// with a reason), the configuration reload and what it changed or why it was
// refused (the last one, SIGHUP's included), and the audit trail with its
// filters, a page at a time. Admins only: the API answers 403 to anyone else,
// so the view says so instead of showing empty tables.
import { api } from '../api.js';
import { t, register, apply } from '../i18n.js';
import { formatTime } from '../time.js';
import { fromZoneInput, utc } from '../zoneinput.js';
import dict from '../i18n/admin.js';

register(dict);

const REFRESH_MS = 4000;
const STATUSES = ['recording', 'connecting', 'offline', 'disabled'];
// Actions vigild audits (index/index.h); offered as suggestions, any is accepted.
const ACTIONS = ['clip', 'snapshot', 'live', 'export', 'lock_create', 'lock_release',
                 'config_reload', 'config_reload_failed', 'auth_failed', 'auth_denied',
                 'session_start', 'case_create', 'case_close'];

// gen: which mount an answer belongs to (a language change re-mounts while
// the previous mount's requests are still out).
let root = null, timer = null, cameras = [], seq = 0, gen = 0;
let sort = { key: 'status', dir: 1 };
let audit = { before: 0, pages: [], rows: [] };

const $ = (sel) => root.querySelector(sel);

function td(text, cls) {
  const c = document.createElement('td');
  if (cls) c.className = cls;
  c.textContent = text ?? '';
  return c;
}

function showError(e) {
  if (root) $('#admin-error').textContent = e ? String(e.message || e) : '';
}

// "12 s", "3 min": how long ago, in the view's language.
function age(iso, now) {
  if (!iso) return t('admin.never');
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return t('admin.age.s', { n: s });
  if (s < 7200) return t('admin.age.m', { n: Math.round(s / 60) });
  if (s < 172800) return t('admin.age.h', { n: Math.round(s / 3600) });
  return t('admin.age.d', { n: Math.round(s / 86400) });
}

// A datetime-local value read as wall time in the console's zone, as the
// API's UTC; '' when empty.
function zoneToIso(v) {
  const d = fromZoneInput(v);
  return d ? utc(d) : '';
}

/* ---- camera health ---- */

const SORTS = {
  id: (c) => c.id,
  // problems first
  status: (c) => ['offline', 'connecting', 'recording', 'disabled'].indexOf(c.status),
  reason: (c) => c.reason || '',
  bitrate: (c) => c.bitrate_bps ?? -1,
  fps: (c) => c.fps ?? -1,
  last: (c) => (c.last_frame_at ? Date.parse(c.last_frame_at) : 0),
  pool: (c) => c.pool || '',
  place: (c) => `${c.district}\u0000${c.site}`,
};

function districtOptions() {
  const sel = $('#health-district');
  const want = sel.value;
  const ds = [...new Set(cameras.map((c) => c.district))].sort();
  const opts = [['', t('admin.filter.all')], ...ds.map((d) => [d, d || '—'])];
  if (sel.options.length === opts.length && opts.every(([v], i) => sel.options[i].value === v)) return;
  sel.replaceChildren(...opts.map(([v, text]) => {
    const o = document.createElement('option');
    o.value = v; o.textContent = text;
    return o;
  }));
  sel.value = ds.includes(want) ? want : '';
}

function renderHealth() {
  districtOptions();
  const st = $('#health-status').value, dist = $('#health-district').value;
  const now = Date.now();
  const key = SORTS[sort.key] || SORTS.status;
  const shown = cameras
    .filter((c) => (!st || c.status === st) && (!dist || c.district === dist))
    .sort((a, b) => {
      const x = key(a), y = key(b);
      return (x < y ? -1 : x > y ? 1 : a.id < b.id ? -1 : 1) * sort.dir;
    });
  const rows = shown.map((c) => {
    const tr = document.createElement('tr');
    tr.dataset.id = c.id;
    tr.dataset.status = c.status;
    const name = td(c.name && c.name !== c.id ? `${c.name} (${c.id})` : c.id, 'camera');
    const status = td(t('status.' + c.status), 'status status-' + c.status);
    tr.append(name, status, td(c.reason || '', 'reason'),
      td(c.bitrate_bps ? t('admin.kbps', { n: Math.round(c.bitrate_bps / 1000) }) : '—', 'bitrate num'),
      td(c.fps ? c.fps.toFixed(1) : '—', 'fps num'),
      td(c.last_frame_at ? formatTime(c.last_frame_at) : t('admin.never'), 'last'),
      td(c.last_frame_at ? age(c.last_frame_at, now) : '—', 'age num'),
      td(c.pool || '—', 'pool'),
      td([c.district || '—', c.site].join(' · '), 'place'));
    return tr;
  });
  $('#health tbody').replaceChildren(...rows);
  $('#health-count').textContent = t('admin.health.count', { n: shown.length, total: cameras.length });
  for (const th of root.querySelectorAll('#health th[data-sort]')) {
    th.classList.toggle('sorted', th.dataset.sort === sort.key);
    th.dataset.dir = th.dataset.sort === sort.key ? (sort.dir > 0 ? 'asc' : 'desc') : '';
  }
}

/* ---- locks ---- */

function renderLocks(locks) {
  const rows = locks.map((l) => {
    const tr = document.createElement('tr');
    tr.dataset.id = l.id;
    tr.dataset.camera = l.camera;
    const b = document.createElement('button');
    b.className = 'release';
    b.textContent = t('admin.release');
    b.addEventListener('click', () => askRelease(l));
    const act = document.createElement('td');
    act.appendChild(b);
    tr.append(td('#' + l.id), td(l.camera), td(`${formatTime(l.start)} → ${formatTime(l.end)}`),
      td(l.reason, 'lockreason'), td(l.created_by), td(formatTime(l.created)),
      td(l.until ? formatTime(l.until) : '—'), act);
    return tr;
  });
  $('#locks tbody').replaceChildren(...rows);
  $('#locks-none').hidden = locks.length > 0;
}

function askRelease(l) {
  const f = $('#release-form');
  f.dataset.id = l.id;
  $('#release-title').textContent = t('admin.release.title', { id: l.id, camera: l.camera });
  $('#release-reason').value = '';
  $('#release-msg').textContent = '';
  f.hidden = false;
  $('#release-reason').focus();
}

async function release(e) {
  e.preventDefault();
  const f = $('#release-form');
  const reason = $('#release-reason').value.trim();
  if (!reason) { $('#release-msg').textContent = t('admin.release.need'); return; }
  const id = f.dataset.id;
  try {
    await api('/api/locks/' + encodeURIComponent(id), {
      method: 'DELETE', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ reason }),
    });
  } catch (err) {
    $('#release-msg').textContent = String(err.message || err);
    return;
  }
  f.hidden = true;
  $('#locks-msg').textContent = t('admin.release.done', { id });
  await Promise.all([refresh(), loadAudit()]);
}

/* ---- reload ---- */

function renderReload(last) {
  const el = $('#reload-result');
  el.replaceChildren();
  if (!last) {
    el.dataset.state = 'none';
    el.textContent = t('admin.reload.none');
    return;
  }
  el.dataset.state = last.ok ? 'ok' : 'refused';
  const head = document.createElement('p');
  head.className = last.ok ? 'ok' : 'refused';
  head.textContent = t(last.ok ? 'admin.reload.ok' : 'admin.reload.refused',
                       { time: formatTime(last.time), who: last.who });
  el.appendChild(head);
  if (!last.ok) {
    const r = document.createElement('p');
    r.className = 'reason';
    r.textContent = t('admin.reload.reason', { reason: last.reason || '' });
    el.appendChild(r);
    return;
  }
  const ul = document.createElement('ul');
  const line = (kind, label, ids) => {
    const li = document.createElement('li');
    li.dataset.kind = kind;
    li.textContent = `${label}: ${ids.length ? ids.join(', ') : t('admin.reload.nothing')}`;
    if (ids.length && kind !== 'unchanged') li.classList.add('some');
    ul.appendChild(li);
  };
  for (const k of ['added', 'changed', 'removed', 'unchanged']) line(k, t('admin.reload.' + k), last.cameras?.[k] || []);
  line('sections', t('admin.reload.sections'), last.sections || []);
  el.appendChild(ul);
}

async function doReload() {
  const btn = $('#reload-btn');
  btn.disabled = true;
  $('#reload-busy').textContent = t('admin.reload.busy');
  let last = null;
  try {
    last = await api('/api/reload', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  } catch (e) {
    // 422: refused, and the answer says why; the outcome is also kept by vigild.
    if (e.status !== 422) showError(e);
    try { last = (await api('/api/reload')).last; } catch { /* shown above */ }
  }
  if (!root) return;
  btn.disabled = false;
  $('#reload-busy').textContent = '';
  if (last) renderReload(last);
  await Promise.all([refresh(), loadAudit()]);
}

/* ---- audit ---- */

function auditQuery() {
  const q = new URLSearchParams();
  for (const [name, sel] of [['who', '#audit-who'], ['action', '#audit-action'], ['camera', '#audit-camera']]) {
    const v = $(sel).value.trim();
    if (v) q.set(name, v);
  }
  const s = zoneToIso($('#audit-start').value), e = zoneToIso($('#audit-end').value);
  if (s) q.set('start', s);
  if (e) q.set('end', e);
  q.set('limit', $('#audit-limit').value);
  if (audit.before) q.set('before', String(audit.before));
  return q;
}

async function loadAudit() {
  const my = ++seq, g = gen;
  let rows;
  try {
    rows = await api('/api/audit?' + auditQuery());
  } catch (e) {
    showError(e);
    return;
  }
  if (!root || my !== seq || g !== gen) return;
  audit.rows = rows;
  const trs = rows.slice().reverse().map((a) => {
    const tr = document.createElement('tr');
    tr.dataset.id = a.id;
    tr.dataset.action = a.action;
    tr.append(td(formatTime(a.time), 'time'), td(a.token, 'who'), td(a.action, 'action'),
      td(a.camera || '—', 'camera'),
      td(a.start ? `${formatTime(a.start)} → ${formatTime(a.end)}` : '', 'span'), td(a.detail, 'detail'));
    return tr;
  });
  $('#audit tbody').replaceChildren(...trs);
  $('#audit-none').hidden = rows.length > 0;
  $('#audit-page').textContent = t('admin.audit.page', { n: audit.pages.length + 1, count: rows.length });
  $('#audit-older').disabled = rows.length < Number($('#audit-limit').value);
  $('#audit-newest').disabled = !audit.before;
}

/* ---- refresh, mount ---- */

async function refresh() {
  const my = gen;
  try {
    const [cams, locks, rl] = await Promise.all([api('/api/cameras'), api('/api/locks'), api('/api/reload')]);
    if (!root || my !== gen) return;
    cameras = cams;
    renderHealth();
    renderLocks(locks);
    if (!$('#reload-btn').disabled) renderReload(rl.last);
    showError(null);
    // On the newest page the trail follows new rows; an older page stays put.
    if (!audit.before) loadAudit();
  } catch (e) {
    showError(e);
  }
}

function denied(el, ctx) {
  const p = document.createElement('p');
  p.id = 'admin-denied';
  p.className = 'denied';
  p.setAttribute('role', 'alert');
  p.textContent = ctx.user ? t('admin.denied', { role: ctx.user.role || '—' }) : t('admin.denied.none');
  el.replaceChildren(p);
}

const th = (label, sortKey) =>
  `<th${sortKey ? ` data-sort="${sortKey}"` : ''} data-i18n="${label}"></th>`;

export async function mount(el, ctx) {
  root = el;
  gen++;
  if (ctx.user?.role !== 'admin') {
    denied(el, ctx);
    return;
  }
  audit = { before: 0, pages: [], rows: [] };
  el.innerHTML = `
<div class="admin">
  <p id="admin-error" role="alert"></p>
  <p class="zone" id="admin-zone"></p>
  <section id="admin-health">
    <h2 data-i18n="admin.health"></h2>
    <div class="filters">
      <label><span data-i18n="admin.filter.status"></span> <select id="health-status"></select></label>
      <label><span data-i18n="admin.filter.district"></span> <select id="health-district"></select></label>
      <span id="health-count"></span>
    </div>
    <table id="health"><thead><tr>
      ${th('admin.col.camera', 'id')}${th('admin.col.status', 'status')}${th('admin.col.reason', 'reason')}
      ${th('admin.col.bitrate', 'bitrate')}${th('admin.col.fps', 'fps')}${th('admin.col.last', 'last')}
      ${th('admin.col.age', 'last')}${th('admin.col.pool', 'pool')}${th('admin.col.place', 'place')}
    </tr></thead><tbody></tbody></table>
  </section>
  <section id="admin-reload">
    <h2 data-i18n="admin.reload"></h2>
    <p><button id="reload-btn" data-i18n="admin.reload.button"></button> <span id="reload-busy"></span></p>
    <div id="reload-result"></div>
  </section>
  <section id="admin-locks">
    <h2 data-i18n="admin.locks"></h2>
    <p id="locks-msg" class="msg"></p>
    <table id="locks"><thead><tr>
      ${th('admin.col.id')}${th('admin.col.camera')}${th('admin.col.range')}${th('admin.col.lockreason')}
      ${th('admin.col.by')}${th('admin.col.created')}${th('admin.col.until')}<th></th>
    </tr></thead><tbody></tbody></table>
    <p id="locks-none" data-i18n="admin.locks.none" hidden></p>
    <form id="release-form" hidden>
      <strong id="release-title"></strong>
      <label><span data-i18n="admin.release.reason"></span>
        <input id="release-reason" maxlength="255" autocomplete="off"></label>
      <button type="submit" id="release-ok" data-i18n="admin.release.ok"></button>
      <button type="button" id="release-cancel" data-i18n="admin.cancel"></button>
      <span id="release-msg" class="msg" role="alert"></span>
    </form>
  </section>
  <section id="admin-audit">
    <h2 data-i18n="admin.audit"></h2>
    <form id="audit-filters" class="filters">
      <label><span data-i18n="admin.audit.who"></span> <input id="audit-who" size="10" autocomplete="off"></label>
      <label><span data-i18n="admin.audit.action"></span> <input id="audit-action" list="audit-actions" size="16" autocomplete="off"></label>
      <datalist id="audit-actions">${ACTIONS.map((a) => `<option value="${a}">`).join('')}</datalist>
      <label><span data-i18n="admin.audit.camera"></span> <input id="audit-camera" size="10" autocomplete="off"></label>
      <label><span data-i18n="admin.audit.start"></span> <input id="audit-start" type="datetime-local" step="1"></label>
      <label><span data-i18n="admin.audit.end"></span> <input id="audit-end" type="datetime-local" step="1"></label>
      <label><span data-i18n="admin.audit.limit"></span> <select id="audit-limit">
        <option>25</option><option selected>50</option><option>100</option><option>500</option></select></label>
      <button type="submit" id="audit-apply" data-i18n="admin.audit.apply"></button>
    </form>
    <table id="audit"><thead><tr>
      ${th('admin.col.time')}${th('admin.audit.who')}${th('admin.audit.action')}${th('admin.audit.camera')}
      ${th('admin.col.range')}${th('admin.col.detail')}
    </tr></thead><tbody></tbody></table>
    <p id="audit-none" data-i18n="admin.audit.none" hidden></p>
    <p class="pager"><button id="audit-newest" data-i18n="admin.audit.newest"></button>
      <button id="audit-older" data-i18n="admin.audit.older"></button> <span id="audit-page"></span></p>
  </section>
</div>`;
  apply(el);
  $('#admin-zone').textContent = t('admin.zone', { zone: ctx.timezone });
  const sel = $('#health-status');
  sel.replaceChildren(...[['', t('admin.filter.all')], ...STATUSES.map((s) => [s, t('status.' + s)])].map(([v, text]) => {
    const o = document.createElement('option');
    o.value = v; o.textContent = text;
    return o;
  }));
  sel.addEventListener('change', renderHealth);
  $('#health-district').addEventListener('change', renderHealth);
  for (const h of el.querySelectorAll('#health th[data-sort]')) {
    h.addEventListener('click', () => {
      sort = sort.key === h.dataset.sort ? { key: sort.key, dir: -sort.dir } : { key: h.dataset.sort, dir: 1 };
      renderHealth();
    });
  }
  $('#release-form').addEventListener('submit', release);
  $('#release-cancel').addEventListener('click', () => { $('#release-form').hidden = true; });
  $('#reload-btn').addEventListener('click', doReload);
  $('#audit-filters').addEventListener('submit', (e) => {
    e.preventDefault();
    audit.before = 0; audit.pages = [];
    loadAudit();
  });
  $('#audit-older').addEventListener('click', () => {
    if (!audit.rows.length) return;
    audit.pages.push(audit.before);
    audit.before = audit.rows[0].id; // the oldest shown
    loadAudit();
  });
  $('#audit-newest').addEventListener('click', () => { audit.before = 0; audit.pages = []; loadAudit(); });
  await Promise.all([refresh(), loadAudit()]);
  timer = setInterval(refresh, REFRESH_MS);
}

export function unmount() {
  clearInterval(timer);
  timer = null;
  root = null;
  gen++;
}
