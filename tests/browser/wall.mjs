// Drives Debian's chromium (playwright-core) through the console's video
// wall: in the 4-tile layout every tile's live video advances, the tiles show
// their latency, the texts render in Vietnamese and then in English, the page
// is served with its Content-Security-Policy, and nothing lands on the console
// as an error.
// Usage: node wall.mjs BASE_URL SHOT_PREFIX
// Prints one JSON line of what it saw; exits non-zero on any failure.
import { drive } from './run.mjs';

const [base, shot, token] = process.argv.slice(2);
const out = {};
await drive(out, async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  const urls = [];
  page.on('request', (r) => urls.push(r.url()));
  const resp = await page.goto(base + '/#/wall?layout=4', { waitUntil: 'load' });
  const h = resp.headers();
  if (token) {
    // Sign in once through the form: the session cookie carries the rest.
    await page.fill('#token', token);
    await page.dispatchEvent('#token', 'change');
    await page.waitForFunction(() => document.getElementById('who').textContent !== '', null,
                               { timeout: 10000 });
    out.cookies = (await page.context().cookies()).map((c) => ({ name: c.name, httpOnly: c.httpOnly,
                                                                 sameSite: c.sameSite }));
  }
  out.csp = h['content-security-policy'] || null;
  out.xfo = h['x-frame-options'] || null;
  await page.waitForFunction(() => document.querySelectorAll('#wall-grid .tile video').length === 4,
                             null, { timeout: 15000 });
  out.tiles = await page.$$eval('#wall-grid .tile', (ts) => ts.map((t) => t.dataset.camera || null));
  await page.waitForFunction(() => [...document.querySelectorAll('#wall-grid .tile video')]
    .every((v) => v.readyState >= 2 && v.currentTime > 0.5), null, { timeout: 25000 });
  const t0 = await page.$$eval('#wall-grid .tile video', (vs) => vs.map((v) => v.currentTime));
  await page.waitForTimeout(3000);
  const t1 = await page.$$eval('#wall-grid .tile video', (vs) => vs.map((v) => v.currentTime));
  out.advanced = t1.map((t, i) => t - t0[i]);
  out.latency = await page.$$eval('#wall-grid .tile .latency', (ls) => ls.map((l) => l.textContent));
  out.nav_vi = await page.locator('#nav a[data-route="wall"]').textContent();
  out.layout_vi = await page.locator('#wall-layouts span').textContent();
  if (shot) await page.screenshot({ path: shot + '-vi.png' });
  await page.selectOption('#lang', 'en');
  await page.waitForFunction(() => document.querySelector('#wall-layouts span')?.textContent === 'Layout',
                             null, { timeout: 10000 });
  out.nav_en = await page.locator('#nav a[data-route="wall"]').textContent();
  out.layout_en = await page.locator('#wall-layouts span').textContent();
  await page.waitForFunction(() => [...document.querySelectorAll('#wall-grid .tile video')]
    .every((v) => v.readyState >= 2 && v.currentTime > 0.5), null, { timeout: 25000 });
  if (shot) await page.screenshot({ path: shot + '-en.png' });
  out.page_errors = errors;
  out.token_in_urls = urls.filter((u) => u.includes('access_token') || (token && u.includes(token)));
});
