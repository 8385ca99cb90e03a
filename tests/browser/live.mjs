// Drives Debian's chromium (playwright-core) through a live tile of the
// console's wall (one tile): a camera's live.mp4 plays through Media Source
// Extensions, its currentTime advances, and the tile shows the latency it
// computes from the prft boxes.
// Usage: node live.mjs BASE_URL CAMERA_ID SCREENSHOT.png [TOKEN]
// Prints one JSON line of what it saw; exits non-zero on any failure.
import { drive } from './run.mjs';

const [base, cameraId, shot, token] = process.argv.slice(2);
const out = {};
await drive(out, async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  if (token) {
    await page.addInitScript((t) => localStorage.setItem('vigil-token', t), token);
  }
  await page.goto(base + '/#/wall?layout=1', { waitUntil: 'load' });
  const tile = `#wall-grid .tile[data-camera="${cameraId}"]`;
  await page.waitForFunction((sel) => {
    const v = document.querySelector(sel + ' video');
    return v && v.readyState >= 2 && v.currentTime > 0.5;
  }, tile, { timeout: 20000 });
  const t0 = await page.$eval(tile + ' video', (v) => v.currentTime);
  await page.waitForTimeout(3000);
  const s = await page.$eval(tile, (f) => {
    const v = f.querySelector('video');
    const l = f.querySelector('.latency');
    return { t1: v.currentTime, width: v.videoWidth, height: v.videoHeight,
             latency: l.dataset.latency ? Number(l.dataset.latency) : null, text: l.textContent,
             video_error: v.error ? v.error.message : null };
  });
  Object.assign(out, s, { t0 });
  out.page_errors = errors;
  out.error_text = await page.locator('#wall-error').textContent();
  if (shot) await page.screenshot({ path: shot });
});
