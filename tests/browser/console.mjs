// Drives Debian's chromium (playwright-core) through vigil's web console:
// the Playback view lists the cameras from /api/cameras, a camera picked
// there gets a timeline showing its recorded runs and a tile whose clip plays
// in a <video>; a click in the middle of the run seeks there.
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
  const row = page.locator(`#pb-cameras li[data-id="${cameraId}"]`);
  await row.waitFor({ timeout: 15000 });
  out.cameras = await page.locator('#pb-cameras li').count();
  out.status = await row.locator('.status').getAttribute('data-status');
  await row.locator('input').check();
  const tl = page.locator(`.timeline[data-camera="${cameraId}"]`);
  await tl.locator('.run').first().waitFor({ timeout: 15000 });
  const tile = `.pb-tile[data-camera="${cameraId}"]`;
  // Playing: enough data, time advancing.
  await page.waitForFunction((sel) => {
    const v = document.querySelector(sel + ' video');
    return v && v.readyState >= 2 && v.currentTime > 0.5;
  }, tile, { timeout: 20000 });
  const v = await page.$eval(tile + ' video', (v) => ({ duration: v.duration, width: v.videoWidth,
                                                         height: v.videoHeight }));
  Object.assign(out, v);
  // A click in the middle of the run: the clock goes there, the video follows.
  const run = await tl.locator('.run').first().boundingBox();
  await page.mouse.click(run.x + run.width / 2, run.y + run.height / 2);
  const target = await page.$eval('#pb-clock', (o) => Number(o.dataset.t));
  await page.waitForFunction(({ sel, target }) => {
    const f = document.querySelector(sel);
    const wall = Date.parse(f.dataset.clipStart) + f.querySelector('video').currentTime * 1000;
    return wall > target + 300;
  }, { sel: tile, target }, { timeout: 15000 });
  out.seeked_to = target;
  out.video_error = await page.$eval(tile + ' video', (v) => v.error?.message || null);
  out.page_errors = errors;
  out.error_text = await page.locator('#pb-error').textContent();
  if (shot) await page.screenshot({ path: shot });
});
