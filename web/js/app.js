// The console's shell: navigation, language, sign-in and a hash router.
// Each view is js/views/<name>.js exporting mount(el, ctx) and unmount();
// ctx carries the signed-in user ({name, role} or null), the time zone and
// the api helpers. Views re-mount when the language changes.
import { api, setToken } from './api.js';
import { register, apply, setLanguage, language, onLanguage } from './i18n.js';
import { setZone, timeZone } from './time.js';
import shellDict from './i18n/shell.js';

register(shellDict);

const ROUTES = ['wall', 'playback', 'investigate', 'admin'];
const DEFAULT = 'wall';
const el = document.getElementById('view');
const ctx = { user: null, timezone: 'UTC', params: new URLSearchParams() };
let current = null, currentName = null, seq = 0;

function parse() {
  const h = location.hash.replace(/^#\/?/, '');
  const [name, query] = h.split('?');
  return { name: ROUTES.includes(name) ? name : DEFAULT, params: new URLSearchParams(query || '') };
}

async function route(force) {
  const { name, params } = parse();
  if (!force && name === currentName && String(params) === String(ctx.params)) return;
  const my = ++seq;
  if (current) { try { current.unmount(); } catch (e) { console.warn(e); } }
  current = null;
  currentName = name;
  ctx.params = params;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.route === name);
  if (ctx.auth && !ctx.user) {
    // Signed out: nothing to show until a token is given.
    el.replaceChildren();
    el.dataset.view = '';
    currentName = null;
    document.getElementById('token').focus();
    return;
  }
  const mod = await import(`./views/${name}.js`);
  if (my !== seq) return;
  el.replaceChildren();
  el.dataset.view = name;
  current = mod;
  await mod.mount(el, ctx);
}

// Who is signed in and the console's zone; the loopback demo answers without
// a session.
async function session() {
  try {
    const s = await api('/api/session');
    ctx.user = s.user ? { name: s.user, role: s.role } : null;
    ctx.auth = !!s.auth;
    if (s.timezone) ctx.timezone = s.timezone;
  } catch {
    ctx.user = null;
  }
  setZone(ctx.timezone);
  ctx.timezone = timeZone();
  document.getElementById('who').textContent = ctx.user ? ctx.user.name : '';
}

const lang = document.getElementById('lang');
lang.value = language();
lang.addEventListener('change', () => setLanguage(lang.value));
onLanguage(() => { apply(document.body); route(true); });

const tok = document.getElementById('token');
document.getElementById('signin').addEventListener('submit', (e) => { e.preventDefault(); tok.blur(); });
tok.value = '';
// Sign-in: the token is sent once and traded for an HttpOnly session cookie;
// it is not kept by the page.
tok.addEventListener('change', async () => {
  const value = tok.value;
  tok.value = '';
  setToken('');
  try {
    await api('/api/session', { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                body: JSON.stringify({ token: value }) });
    tok.classList.remove('refused');
  } catch {
    tok.classList.add('refused');
  }
  await session();
  route(true);
});

apply(document.body);
document.documentElement.lang = language();
window.addEventListener('hashchange', () => route(false));
await session();
await route(true);
