// Drives Debian's chromium (playwright-core) through the console the demo
// serves: every camera of the config is listed, and each enabled one shows
// a recorded run on its timeline, all before a deadline.
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
  await page.goto(base + '/#/playback', { waitUntil: 'load' });
  await page.waitForFunction((n) => document.querySelectorAll('#cameras tbody tr').length >= n,
                             ids.length, { timeout: Math.max(deadline - Date.now(), 1000) });
  out.listed = await page.$$eval('#cameras tbody tr', (rows) => rows.map((r) => r.dataset.id));
  // Each enabled camera: select it (the range becomes the last 10 min up to
  // now) until its timeline shows a run or the deadline passes.
  for (const id of ids) {
    if (disabled.has(id)) continue;
    while (Date.now() < deadline) {
      await page.locator(`#cameras tbody tr[data-id="${id}"]`).click();
      const ok = await page.locator('#timeline .run').first()
        .waitFor({ timeout: 2000 }).then(() => true, () => false);
      if (ok) {
        out.with_runs[id] = Date.now();
        break;
      }
    }
  }
  out.coverage_text = await page.locator('#coverage-text').textContent();
  if (shot) await page.screenshot({ path: shot });
});
