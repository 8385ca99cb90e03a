// Drives Debian's chromium (playwright-core) through the console's
// Investigations view, signed in through the form (session cookie):
// a viewer is told the view needs an investigator; an investigator picks a
// district and a range typed in the console's zone, sees which cameras
// recorded, searches events with unaccented text and a plate, opens playback
// from a result, opens a case from the cameras, exports it, downloads the
// bundle through the page, adds a note, reads the chain of custody, closes
// the case; in Vietnamese, then in English; nothing lands on the console as
// an error.
// Usage: node investigate.mjs BASE_URL SHOT_PREFIX BUNDLE_PATH JSON
//   JSON: {investigator, viewer (tokens), district, start, end (zone-local
//          "YYYY-MM-DDTHH:MM:SS"), search, plate}
// Prints one JSON line of what it saw; exits non-zero on any failure.
import { drive } from './run.mjs';

const [base, shot, bundlePath, json] = process.argv.slice(2);
const p = JSON.parse(json);
const out = {};
// waits stretch with the daemon's build (a sanitized one runs slower)
const slow = p.slow || 1;
const T = { timeout: 20000 * slow };

async function signIn(page, token) {
  await page.goto(base + '/#/investigate', { waitUntil: 'load' });
  await page.fill('#token', token);
  await page.dispatchEvent('#token', 'change');
  await page.waitForFunction(() => document.getElementById('who').textContent !== '', null, T);
}

function watch(page, errors, urls) {
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('request', (r) => urls.push(r.url()));
}

const texts = (page, sel) => page.$$eval(sel, (es) => es.map((e) => e.textContent.trim()));

await drive(out, async (browser) => {
  const errors = [], urls = [];

  // A viewer: a clear message, no failed request.
  const vctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const vpage = await vctx.newPage();
  watch(vpage, errors, urls);
  await signIn(vpage, p.viewer);
  await vpage.waitForSelector('#inv-denied', T);
  out.viewer_text = (await vpage.textContent('#inv-denied')).trim();
  await vctx.close();

  const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
  const page = await ctx.newPage();
  watch(page, errors, urls);
  await signIn(page, p.investigator);

  // The area and the range, in the console's zone.
  await page.waitForSelector('#inv-area-select', T);
  out.areas = await page.$$eval('#inv-area-select option', (os) => os.map((o) => o.value));
  await page.selectOption('#inv-area-select', 'd\u0000' + p.district);
  await page.$eval('#inv-start', (e, v) => { e.value = v; }, p.start);
  await page.$eval('#inv-end', (e, v) => { e.value = v; }, p.end);
  const covReq = page.waitForRequest((r) => r.url().includes('/api/coverage?'), T);
  await page.click('#inv-find');
  out.coverage_url = decodeURIComponent((await covReq).url());
  await page.waitForSelector('#inv-coverage tbody tr', T);
  // every recorded camera's activity: a heat strip drawn or "unavailable"
  await page.waitForFunction(() => [...document.querySelectorAll('#inv-coverage tr.inv-rec .inv-act')]
    .every((td) => td.querySelector('canvas[data-values], .inv-unavailable')), null, T);
  out.coverage = await page.$$eval('#inv-coverage tbody tr', (rs) => rs.map((r) => ({
    camera: r.dataset.camera, picked: r.querySelector('.inv-pick').checked,
    covered: r.querySelector('.inv-covered').textContent,
    activity: r.querySelector('.inv-act canvas') ? 'strip'
      : (r.querySelector('.inv-act').textContent || null),
  })));
  out.summary_vi = await page.textContent('#inv-summary');
  out.intervals = await page.$$eval('#inv-intervals li', (ls) => ls.map((l) => l.dataset.camera));

  // Events: unaccented words find the accented text; a plate as a phrase.
  const search = async (text) => {
    await page.fill('#inv-q', text);
    const resp = page.waitForResponse((r) => r.url().includes('/api/events?'), T);
    await page.click('#inv-search');
    await resp;
    await page.waitForSelector('#inv-events table, #inv-events p', T);
    return page.$$eval('#inv-event-list tbody tr', (rs) => rs.map((r) => ({
      id: Number(r.dataset.event), cells: [...r.children].map((c) => c.textContent),
      href: r.querySelector('a.inv-play')?.getAttribute('href') || null,
      hrefs: [...r.querySelectorAll('a.inv-play')].map((a) => a.getAttribute('href')),
    })));
  };
  out.plate_results = await search(p.plate);
  out.area_results = await search(p.area_search);
  out.search_results = await search(p.search);
  if (shot) await page.screenshot({ path: shot + '-search-vi.png', fullPage: true });
  await page.click('#inv-event-list a.inv-play');
  await page.waitForFunction(() => location.hash.startsWith('#/playback'), null, T);
  out.playback_hash = await page.evaluate(() => location.hash);
  // The router mounts the view after importing its module: wait for it
  // (what is then checked is which view it mounted).
  await page.waitForFunction(() => document.getElementById('view').dataset.view !== 'investigate',
                             null, T).catch(() => {});
  out.playback_view = await page.evaluate(() => document.getElementById('view').dataset.view);
  await page.goBack();
  // back on the view: the query and its answers as they were left
  await page.waitForSelector('#inv-coverage tbody tr', T);

  // A case from the cameras picked.
  await page.fill('#inv-case-title', p.title);
  await page.fill('#inv-case-reason', p.reason);
  await page.click('#inv-create');
  await page.waitForSelector('#inv-case', T);
  out.case_hash = await page.evaluate(() => location.hash);
  out.case_cameras = await page.$$eval('#inv-case-cameras tbody tr', (rs) => rs.map((r) => r.dataset.camera));
  out.case_locks = await page.$$eval('#inv-locks tbody tr', (rs) => rs.map((r) => r.dataset.released));

  // Export, then download its bundle as an operator would: the link.
  await page.fill('#inv-export-reason', p.export_reason);
  await page.click('#inv-export');
  await page.waitForSelector('#inv-exports a.inv-bundle', { timeout: 60000 * slow });
  out.exports = await page.$$eval('#inv-exports tbody tr', (rs) => rs.map((r) => ({
    id: Number(r.dataset.export), bundle: r.querySelector('a.inv-bundle').getAttribute('href') })));
  const dl = page.waitForEvent('download', T);
  await page.click('#inv-exports a.inv-bundle');
  const download = await dl;
  out.download_name = download.suggestedFilename();
  out.download_failure = await download.failure();
  await download.saveAs(bundlePath);

  // A note; the chain of custody shows what was done.
  await page.fill('#inv-note', p.note);
  await page.click('#inv-add-note');
  await page.waitForSelector('#inv-notes li', T);
  out.notes = await texts(page, '#inv-notes li .inv-note-text');
  out.custody = await page.$$eval('#inv-custody tbody tr', (rs) => rs.map((r) => r.dataset.action));
  out.headings_vi = await texts(page, '#inv-case h3');
  if (shot) await page.screenshot({ path: shot + '-case-vi.png', fullPage: true });

  // English: the same case page re-rendered.
  await page.selectOption('#lang', 'en');
  await page.waitForFunction(() => document.querySelector('#inv-case h3')?.textContent === 'Cameras', null, T);
  out.headings_en = await texts(page, '#inv-case h3');
  out.bundle_text_en = (await page.textContent('#inv-exports a.inv-bundle')).trim();
  if (shot) await page.screenshot({ path: shot + '-case-en.png', fullPage: true });

  // Closing takes a reason and releases the locks.
  await page.fill('#inv-close-reason', p.close_reason);
  await page.click('#inv-close');
  await page.waitForSelector('#inv-case[data-status="closed"]', T);
  out.closed_locks = await page.$$eval('#inv-locks tbody tr', (rs) => rs.map((r) => r.dataset.released));
  out.custody_after_close = await page.$$eval('#inv-custody tbody tr', (rs) => rs.map((r) => r.dataset.action));

  // The list of cases, closed ones included on request, in English.
  await page.goto(base + '/#/investigate', { waitUntil: 'load' });
  await page.waitForSelector('#inv-all', T);
  await page.check('#inv-all');
  await page.waitForSelector('#inv-case-list tbody tr', T);
  out.cases = await page.$$eval('#inv-case-list tbody tr', (rs) => rs.map((r) => ({
    id: Number(r.dataset.case), cells: [...r.children].map((c) => c.textContent) })));
  out.summary_en = await page.textContent('#inv-summary').catch(() => null);
  if (shot) await page.screenshot({ path: shot + '-en.png', fullPage: true });

  out.page_errors = [...errors];

  // A case that does not exist: said on the page (the browser logs the 404
  // itself, so this comes after the errors were taken).
  await page.goto(base + '/#/investigate?case=999999', { waitUntil: 'load' });
  await page.waitForFunction(() => document.getElementById('inv-error')?.textContent, null, T);
  out.unknown_case = await page.textContent('#inv-error');
  out.token_in_urls = urls.filter((u) => u.includes('access_token') || u.includes(p.investigator) ||
                                         u.includes(p.viewer));
});
