// Plays one MP4 URL in Debian's chromium (playwright-core) and seeks it.
// Usage: node clip.mjs CLIP_URL
// Prints {"duration","width","height","seeked"} and exits 0 when Chromium
// played it, or exits 1 with the media error.
import { launch } from './run.mjs';

const [url] = process.argv.slice(2);
const browser = await launch();
let code = 0;
try {
  const page = await browser.newPage();
  const origin = new URL(url).origin;
  await page.goto(origin + '/healthz').catch(() => {});
  const r = await page.evaluate(async (src) => {
    const v = document.createElement('video');
    v.muted = true;
    document.body.appendChild(v);
    const fail = new Promise((_, rej) => v.addEventListener('error', () =>
      rej(new Error('media error ' + (v.error && v.error.code) + ': ' + (v.error && v.error.message)))));
    v.src = src;
    await Promise.race([v.play(), fail]);
    await Promise.race([new Promise((res) => {
      const t = () => (v.currentTime > 0.5 ? res() : setTimeout(t, 50)); t();
    }), fail]);
    const target = v.duration * 0.6;
    await Promise.race([new Promise((res) => { v.addEventListener('seeked', res, { once: true }); v.currentTime = target; }), fail]);
    await Promise.race([new Promise((res) => {
      const t = () => (v.currentTime > target + 0.3 ? res() : setTimeout(t, 50)); t();
    }), fail]);
    return { duration: v.duration, width: v.videoWidth, height: v.videoHeight, seeked: target };
  }, url);
  console.log(JSON.stringify(r));
} catch (e) {
  console.error(String(e.message || e));
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
