// Drives Debian's chromium (playwright-core) through the console's Playback
// view: a deep link opens a camera at a time; zoomed in to a minute, a drag
// or drag along the timeline (zoomed by buttons and the wheel) to a chosen
// time shows the picture of that time (the clip loaded starts at or before
// it, the video's wall time is that time); the hover preview loads a
// snapshot; a click on an event's marker goes to its time; the heat strip
// or "activity unavailable" is shown per camera; playing advances the video; with several
// cameras in step, their wall times are sampled together, at 1×, 2×, 4×;
// frame steps move the clock by one frame; the event posted beforehand has
// its marker; texts render in Vietnamese and English; the wall's "back 30 s"
// opens playback there. Wall time of a tile = X-Clip-Start + currentTime.
// Signed in as an investigator (TOKEN) the event markers show; as a viewer
// (VIEWER_TOKEN, a second visit) they are left out without an error.
// Usage: node playback.mjs BASE_URL CAMERAS(comma-separated) CHOSEN_MS SHOT_PREFIX [TOKEN [VIEWER_TOKEN]]
// CHOSEN_MS: a recorded moment (Unix ms) of the first camera. Prints one JSON
// line of what it saw; exits non-zero on any failure.
import { drive } from './run.mjs';

const [base, camsArg, chosenArg, shot, token, viewerToken] = process.argv.slice(2);
const cams = camsArg.split(',');
const chosen = Number(chosenArg);
const out = { errors: [], clip_gets: {} };
const sel = (id) => `.timeline[data-camera="${id}"]`;

// Every tile's wall time (ms), read in one go.
const walls = (page) => page.$$eval('.pb-tile', (fs) => fs.map((f) => {
  const v = f.querySelector('video');
  return f.dataset.clipStart ? Date.parse(f.dataset.clipStart) + v.currentTime * 1000 : null;
}));
const clock = (page) => page.$eval('#pb-clock', (o) => Number(o.dataset.t));
const spread = (ws) => Math.max(...ws) - Math.min(...ws);

async function pause(page) {
  if (await page.$eval('#pb-clock', (o) => o.dataset.playing === 'true')) await page.click('#pb-play');
}

// Waits until every tile shows its picture of the clock's time (paused).
async function settled(page, n) {
  await page.waitForFunction((n) => {
    const T = Number(document.getElementById('pb-clock').dataset.t);
    const fs = [...document.querySelectorAll('.pb-tile')];
    return fs.length === n && fs.every((f) => {
      const v = f.querySelector('video');
      return f.dataset.clipStart && v.readyState >= 2 && !v.seeking &&
        Math.abs(Date.parse(f.dataset.clipStart) + v.currentTime * 1000 - T) < 2;
    });
  }, n, { timeout: 20000 });
}

// The tiles' wall times, once all play: how far apart they are (ms) at each moment.
async function sync(page, label, across = false) {
  await page.waitForFunction((n) => {
    const vs = [...document.querySelectorAll('.pb-tile video')];
    return vs.length === n && vs.every((v) => !v.paused && v.readyState >= 3);
  }, cams.length, { timeout: 30000 });
  // Within the spec before sampling: a tile that has just loaded is brought in step.
  await page.waitForFunction(() => {
    const ws = [...document.querySelectorAll('.pb-tile')].map((f) =>
      Date.parse(f.dataset.clipStart) + f.querySelector('video').currentTime * 1000);
    return Math.max(...ws) - Math.min(...ws) <= 200;
  }, null, { timeout: 20000 });
  // Sampled in the page every 100 ms for 5 s, so that a moment out of step
  // (a tile's clip ending, a stall) is not missed between samples. A tile
  // between two clips (its next one loading or seeking to the clock, the
  // clock held) shows no picture of a time: such a moment is counted, not
  // compared.
  let samples = await page.evaluate(async (across) => {
    const got = [];
    const clock = () => Number(document.getElementById('pb-clock').dataset.t);
    // across: on until the clock is a second past the first clip's end (where
    // that tile must load its next clip), for at most 20 s
    const until = Math.min(...[...document.querySelectorAll('.pb-tile')].map((f) => Date.parse(f.dataset.clipEnd))) + 1000;
    // Otherwise on until 50 moments with every tile showing a picture, for at
    // most 20 s: under load a tile's next clip can take a second or more to
    // load, and those moments compare nothing.
    const isFull = (x) => x.tiles.every((t) => t.w !== null && t.rs >= 2 && !t.s);
    let nfull = 0;
    for (let i = 0; across ? clock() < until && i < 200 : nfull < 50 && i < 200; i++) {
      got.push({
        held: document.getElementById('pb-clock').dataset.held === 'true',
        clock: Number(document.getElementById('pb-clock').dataset.t),
        tiles: [...document.querySelectorAll('.pb-tile')].map((f) => {
          const v = f.querySelector('video');
          return { w: f.dataset.clipStart ? Date.parse(f.dataset.clipStart) + v.currentTime * 1000 : null,
                   end: f.dataset.clipEnd ? Date.parse(f.dataset.clipEnd) : null,
                   rs: v.readyState, p: v.paused, s: v.seeking, r: v.playbackRate, e: v.ended };
        }),
      });
      if (isFull(got[got.length - 1])) nfull++;
      await new Promise((res) => setTimeout(res, 100));
    }
    return { got, crossed: clock() >= until };
  }, across);
  if (across) out['crossed_' + label] = samples.crossed;
  samples = samples.got;
  const full = samples.filter((x) => x.tiles.every((t) => t.w !== null && t.rs >= 2 && !t.s));
  const spreads = full.map((x) => Math.round(spread(x.tiles.map((t) => t.w))));
  out['between_' + label] = samples.length - full.length;
  out['sync_' + label] = spreads;
  const worst = full[spreads.indexOf(Math.max(...spreads))];
  if (worst && Math.max(...spreads) > 200) out['diag_' + label] = worst;
  out['advance_' + label] = full.length ? full[full.length - 1].tiles.map((t, i) => Math.round(t.w - full[0].tiles[i].w)) : [];
}

const urls = [];
async function newPage(browser, tok) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('pageerror', (e) => out.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') out.errors.push(m.text()); });
  page.on('request', (r) => {
    urls.push(r.url());
    const m = r.method() === 'GET' && r.url().match(/cameras\/([^/]+)\/clip\.mp4/);
    if (m) out.clip_gets[m[1]] = (out.clip_gets[m[1]] || 0) + 1;
  });
  if (tok) {
    // Signed in once through the form: the session cookie carries the rest.
    await page.goto(base + '/#/wall', { waitUntil: 'load' });
    await page.fill('#token', tok);
    await page.dispatchEvent('#token', 'change');
    await page.waitForFunction(() => document.getElementById('who').textContent !== '', null, { timeout: 10000 });
  }
  return page;
}

await drive(out, async (browser) => {
  const page = await newPage(browser, token);

  // Opened 20 s before the chosen time: paused, zoomed in to a minute.
  const open = new Date(chosen - 20000).toISOString();
  await page.goto(`${base}/#/playback?camera=${cams[0]}&t=${open}`, { waitUntil: 'load' });
  await page.locator(`${sel(cams[0])} .run`).first().waitFor({ timeout: 15000 });
  await pause(page);
  out.opened_at = await clock(page) - Date.parse(open);
  for (let i = 0; i < 8 && await page.$eval('#pb-timelines', (e) => Number(e.dataset.span)) > 60000; i++) {
    await page.click('#pb-in');
  }
  const span = () => page.$eval('#pb-timelines', (e) => Number(e.dataset.span));
  out.span = await span();
  out.span_text_vi = await page.locator('#pb-span').textContent();
  // The wheel zooms too, around the pointer.
  const box = await page.locator(sel(cams[0])).boundingBox();
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width / 2, y);
  await page.mouse.wheel(0, 100);
  await page.waitForFunction((s) => Number(document.getElementById('pb-timelines').dataset.span) > s, out.span);
  out.wheel_out = await span();
  await page.mouse.wheel(0, -100);
  await page.waitForFunction((s) => Number(document.getElementById('pb-timelines').dataset.span) < s, out.wheel_out);
  out.wheel_in = await span();

  // Drag along the timeline to the chosen time.
  const view = await page.$eval('#pb-timelines', (e) => ({ start: Number(e.dataset.start), span: Number(e.dataset.span) }));
  const xAt = (ms) => box.x + (ms - view.start) / view.span * box.width;
  await page.mouse.move(xAt(chosen - 15000), y);
  await page.mouse.down();
  await page.mouse.move(xAt(chosen), y, { steps: 5 });
  // The hover preview: a snapshot of that moment.
  await page.waitForFunction(() => {
    const img = document.querySelector('#pb-preview img');
    return !document.getElementById('pb-preview').hidden && img.complete && img.naturalWidth > 0;
  }, null, { timeout: 15000 });
  out.preview = await page.$eval('#pb-preview img', (i) => ({ width: i.naturalWidth, src: new URL(i.src).pathname }));
  await page.mouse.up();
  out.clicked = await clock(page) - chosen;
  await settled(page, 1);
  let T = await clock(page);
  out.clip_start_before = await page.$eval('.pb-tile', (f, T) => Date.parse(f.dataset.clipStart) <= T, T);
  out.seek_wall = (await walls(page))[0] - T;
  out.video = await page.$eval('.pb-tile video', (v) => ({ width: v.videoWidth, height: v.videoHeight,
                                                            error: v.error ? v.error.message : null }));
  out.events = await page.$$eval(`${sel(cams[0])} .event`, (es) => es.map((e) => e.dataset.time));
  // A click on the marker nearest the chosen time goes to its event's time.
  const near = out.events.map((e) => Math.abs(Date.parse(e) - chosen));
  const mark = near.indexOf(Math.min(...near));
  await page.locator(`${sel(cams[0])} .event`).nth(mark).click();
  await settled(page, 1);
  T = await clock(page);
  out.marker_seek = T - Date.parse(out.events[mark]);

  // Frame steps, paused: one frame forward, one back.
  const fps = await page.evaluate(async (id) => (await (await fetch('/api/cameras')).json())
    .find((c) => c.id === id).fps, cams[0]);
  await page.click('#pb-next');
  await settled(page, 1);
  out.step_forward = await clock(page) - T;
  out.step_forward_wall = (await walls(page))[0] - T;
  await page.click('#pb-prev');
  await settled(page, 1);
  out.step_back = await clock(page) - T;
  out.fps = fps;

  // Play: the video advances.
  await page.click('#pb-play');
  await page.waitForFunction(() => { const v = document.querySelector('.pb-tile video'); return !v.paused && v.readyState >= 3; },
                             null, { timeout: 15000 });
  const c0 = await page.$eval('.pb-tile video', (v) => v.currentTime);
  await page.waitForTimeout(2000);
  out.played = await page.$eval('.pb-tile video', (v) => v.currentTime) - c0;

  // The other cameras join; all in step at 1×, then at 2×.
  for (const id of cams.slice(1)) await page.check(`#pb-cameras li[data-id="${id}"] input`);
  out.tiles = await page.$$eval('.pb-tile', (fs) => fs.map((f) => f.dataset.camera));
  await sync(page, '1x');
  if (shot) await page.screenshot({ path: shot + '-sync-vi.png' });
  await page.selectOption('#pb-speed', '2');
  await sync(page, '2x');
  out.rates_2x = await page.$$eval('.pb-tile video', (vs) => vs.map((v) => v.playbackRate));
  await page.selectOption('#pb-speed', '4');
  await sync(page, '4x');
  // on at 4x across the end of a tile's clip: the others wait for its next one
  await sync(page, 'end', true);
  await page.selectOption('#pb-speed', '1');

  // Paused, every tile shows the same moment; a frame step moves them all.
  await pause(page);
  await settled(page, cams.length);
  const P = await clock(page);
  await page.click('#pb-next');
  await settled(page, cams.length);
  out.sync_step = (await walls(page)).map((w) => Math.round((w - P) * 10) / 10);

  out.texts_vi = { nav: await page.locator('#nav a[data-route="playback"]').textContent(),
                   speed: await page.locator('#pb-controls label span').first().textContent(),
                   play: await page.getAttribute('#pb-play', 'title') };
  const activity = () => page.$$eval('.timeline', (ts) => Object.fromEntries(ts.map((t) =>
    [t.dataset.camera, [t.dataset.activity, t.parentElement.querySelector('.pb-activity').textContent]])));
  await page.waitForFunction((n) => [...document.querySelectorAll('.timeline')]
    .filter((t) => t.dataset.activity).length === n, cams.length);
  out.activity_vi = await activity();
  if (shot) await page.screenshot({ path: shot + '-vi.png' });
  await page.selectOption('#lang', 'en');
  await page.waitForFunction(() => document.querySelector('#pb-controls label span')?.textContent === 'Speed',
                             null, { timeout: 10000 });
  // The view comes back where it was, in English.
  await settled(page, cams.length);
  out.texts_en = { nav: await page.locator('#nav a[data-route="playback"]').textContent(),
                   speed: await page.locator('#pb-controls label span').first().textContent(),
                   play: await page.getAttribute('#pb-play', 'title'),
                   span: await page.locator('#pb-span').textContent() };
  await page.waitForFunction((n) => [...document.querySelectorAll('.timeline')]
    .filter((t) => t.dataset.activity).length === n, cams.length);
  out.activity_en = await activity();
  out.kept_after_language = Math.abs(await clock(page) - P) < 1000 && (await walls(page)).length === cams.length;
  if (shot) await page.screenshot({ path: shot + '-en.png' });

  // The wall's "back 30 s" on a live tile opens playback half a minute ago.
  await page.goto(`${base}/#/wall?layout=1`);
  const back = page.locator('#wall-grid .tile button.back').first();
  await back.waitFor({ timeout: 15000 });
  out.back_text = await back.textContent();
  const clicked = Date.now();
  await back.click();
  await page.waitForFunction(() => location.hash.startsWith('#/playback?'), null, { timeout: 5000 });
  const params = new URLSearchParams(await page.evaluate(() => location.hash.split('?')[1]));
  out.back_camera = params.get('camera');
  out.back_t = Date.parse(params.get('t')) - clicked;
  await page.waitForFunction(() => {
    const f = document.querySelector('.pb-tile');
    const v = f?.querySelector('video');
    return f && f.dataset.clipStart && v.readyState >= 2;
  }, null, { timeout: 20000 });
  out.back_clip_start = await page.$eval('.pb-tile', (f) => Date.parse(f.dataset.clipStart)) - Date.parse(params.get('t'));

  if (viewerToken) {
    const vp = await newPage(browser, viewerToken);
    await vp.goto(`${base}/#/playback?camera=${cams[0]}&t=${new Date(chosen).toISOString()}`);
    await vp.locator(`${sel(cams[0])} .run`).first().waitFor({ timeout: 15000 });
    await vp.waitForFunction(() => {
      const f = document.querySelector('.pb-tile');
      return f && f.dataset.clipStart && f.querySelector('video').readyState >= 2;
    }, null, { timeout: 20000 });
    out.viewer_events = await vp.$$eval('.timeline .event', (es) => es.length);
    out.viewer_error_text = await vp.locator('#pb-error').textContent();
  }
  out.token_in_urls = urls.filter((u) => u.includes('access_token') || [token, viewerToken].some((t) => t && u.includes(t)));
});
