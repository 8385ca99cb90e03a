// Drives Debian's chromium (playwright-core) through the console the demo
// serves: every camera of the config is listed in Playback, and each enabled
// one, opened there, shows a recorded run on its timeline, all before a
// deadline.
// Usage: node demo.mjs BASE_URL CAMERA_IDS(comma-separated) DISABLED_IDS DEADLINE_MS [SCREENSHOT.png]
// DEADLINE_MS: Unix time in ms. Prints one JSON line: the listed ids, the ids
// seen with a run and the time each was first seen; exits non-zero on failure.
import { drive } from './run.mjs';

const [base, idsArg, disabledArg, deadlineArg, shot] = process.argv.slice(2);
const ids = idsArg.split(',').filter(Boolean);
const disabled = new Set((disabledArg || '').split(',').filter(Boolean));
const deadline = Number(deadlineArg);
const out = { listed: [], with_runs: {}, page_errors: [] };
await drive(out, async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('pageerror', (e) => out.page_errors.push(String(e)));
  // What `make run` opens onto: the video wall, its tiles the demo's enabled
  // cameras, each playing live (its currentTime advances).
  await page.goto(base + '/', { waitUntil: 'load' });
  await page.waitForFunction(() => document.querySelectorAll('#wall-grid .tile video').length > 0,
                             null, { timeout: Math.max(deadline - Date.now(), 1000) });
  out.wall_tiles = await page.$$eval('#wall-grid .tile', (ts) => ts.map((t) => t.dataset.camera || null));
  const playing = () => [...document.querySelectorAll('#wall-grid .tile video')]
    .every((v) => v.readyState >= 2 && v.currentTime > 0.5);
  await page.waitForFunction(playing, null, { timeout: Math.max(deadline - Date.now(), 1000) + 15000 });
  const w0 = await page.$$eval('#wall-grid .tile video', (vs) => vs.map((v) => v.currentTime));
  await page.waitForTimeout(2000);
  const w1 = await page.$$eval('#wall-grid .tile video', (vs) => vs.map((v) => v.currentTime));
  out.wall_advanced = w1.map((t, i) => t - w0[i]);
  if (shot) await page.screenshot({ path: shot.replace(/\.png$/, '') + '-wall.png' });
  await page.goto(base + '/#/playback', { waitUntil: 'load' });
  await page.waitForFunction((n) => document.querySelectorAll('#pb-cameras li').length >= n,
                             ids.length, { timeout: Math.max(deadline - Date.now(), 1000) });
  out.listed = await page.$$eval('#pb-cameras li', (rows) => rows.map((r) => r.dataset.id));
  // Each enabled camera: opened in Playback (its timeline fetched again every
  // few seconds near the present) until a run shows or the deadline passes.
  for (const id of ids) {
    if (disabled.has(id)) continue;
    await page.goto(`${base}/#/playback?camera=${encodeURIComponent(id)}`);
    const ok = await page.locator(`.timeline[data-camera="${id}"] .run`).first()
      .waitFor({ timeout: Math.max(deadline - Date.now(), 1) }).then(() => true, () => false);
    if (ok) out.with_runs[id] = Date.now();
  }
  if (shot) await page.screenshot({ path: shot });
});
