// Drives Debian's chromium (playwright-core) through vigil's web console:
// the camera list renders from /api/cameras, a camera's coverage timeline
// shows recorded runs, its clip plays in a <video> and seeks.
// Usage: node console.mjs BASE_URL CAMERA_ID SCREENSHOT.png [TOKEN]
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
  out.cameras = await page.locator('#cameras tbody tr').count();
  out.status = await row.locator('td').nth(3).textContent();
  await row.click();
  await page.locator('#timeline .run').first().waitFor({ timeout: 15000 });
  out.coverage = await page.locator('#coverage-text').textContent();
  await page.click('#play');
  // Playing: enough data, time advancing.
  await page.waitForFunction(() => {
    const v = document.getElementById('video');
    return v.readyState >= 2 && v.currentTime > 0.5;
  }, null, { timeout: 20000 });
  const v = await page.evaluate(() => {
    const v = document.getElementById('video');
    return { duration: v.duration, width: v.videoWidth, height: v.videoHeight };
  });
  Object.assign(out, v);
  // Seek to the middle and see it land there and keep playing.
  const target = v.duration / 2;
  await page.evaluate((t) => new Promise((res, rej) => {
    const el = document.getElementById('video');
    el.addEventListener('seeked', () => res(), { once: true });
    el.addEventListener('error', () => rej(new Error('video error')), { once: true });
    el.currentTime = t;
  }), target);
  await page.waitForFunction((t) => document.getElementById('video').currentTime > t + 0.3,
                             target, { timeout: 15000 });
  out.seeked_to = target;
  out.video_error = await page.evaluate(() => document.getElementById('video').error?.message || null);
  out.page_errors = errors;
  out.error_text = await page.locator('#error').textContent();
  if (shot) await page.screenshot({ path: shot });
});
