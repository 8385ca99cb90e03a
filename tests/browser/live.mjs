// Drives Debian's chromium (playwright-core) through the console's live tile:
// a camera's live.mp4 plays through Media Source Extensions, its currentTime
// advances, and the tile shows the latency it computes from the prft boxes.
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
  await page.goto(base + '/#/playback', { waitUntil: 'load' });
  const row = page.locator(`#cameras tbody tr[data-id="${cameraId}"]`);
  await row.waitFor({ timeout: 15000 });
  await row.click();
  await page.click('#live');
  await page.waitForFunction(() => {
    const v = document.getElementById('live-video');
    return v.readyState >= 2 && v.currentTime > 0.5;
  }, null, { timeout: 20000 });
  const t0 = await page.evaluate(() => document.getElementById('live-video').currentTime);
  await page.waitForTimeout(3000);
  const s = await page.evaluate(() => {
    const v = document.getElementById('live-video');
    const l = document.getElementById('live-latency');
    return { t1: v.currentTime, width: v.videoWidth, height: v.videoHeight,
             latency: l.dataset.latency ? Number(l.dataset.latency) : null, text: l.textContent,
             video_error: v.error ? v.error.message : null };
  });
  Object.assign(out, s, { t0 });
  out.page_errors = errors;
  out.error_text = await page.locator('#error').textContent();
  if (shot) await page.screenshot({ path: shot });
});
