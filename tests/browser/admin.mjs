// Drives Debian's chromium (playwright-core) through the console's
// Administration view: a viewer is told the page is for administrators; an
// admin sees every camera's health (status, offline reason), filters it,
// releases a lock with a reason, filters the audit trail by action, and
// reloads the configuration twice: once with a camera added (the page says
// which), once broken (the page says why it was refused). Texts render in
// Vietnamese and English; nothing is asked of another origin; nothing lands on
// the console as an error.
// Usage: node admin.mjs BASE_URL ADMIN_TOKEN VIEWER_TOKEN LOCK_ID CONFIG ADDED_CONFIG
//                       BROKEN_CONFIG ADDED_ID RELEASE_REASON SHOT_PREFIX
// (the config file is overwritten with ADDED_CONFIG, then BROKEN_CONFIG, before
// each press of the reload button). Prints one JSON line of what it saw.
import { copyFileSync } from 'node:fs';
import { drive } from './run.mjs';

const [base, adminToken, viewerToken, lockId, config, added, broken, addedId, reason, shot] =
  process.argv.slice(2);
const out = {};
const origin = new URL(base).origin;

async function page(browser, errors, urls) {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const p = await ctx.newPage();
  p.on('pageerror', (e) => errors.push(String(e)));
  p.on('console', (m) => {
    if (m.type() !== 'error') return;
    // The refused reload is answered 422 on purpose; Chromium logs every
    // non-2xx fetch. Anything else is a fault.
    const where = m.location()?.url || '';
    if (where.endsWith('/api/reload') && m.text().includes('422')) { out.logged_422 = true; return; }
    errors.push(m.text());
  });
  p.on('request', (r) => urls.push(r.url()));
  return p;
}

async function signIn(p, token) {
  await p.fill('#token', token);
  await p.dispatchEvent('#token', 'change');
  await p.waitForFunction(() => document.getElementById('who').textContent !== '', null, { timeout: 10000 });
}

const rowsOf = (p, sel) => p.$$eval(sel, (trs) => trs.map((tr) => ({
  id: tr.dataset.id, status: tr.dataset.status, action: tr.dataset.action,
  cells: [...tr.querySelectorAll('td')].map((c) => c.textContent),
})));

await drive(out, async (browser) => {
  const errors = [], urls = [];

  // A viewer: a clear message, no admin request.
  const v = await page(browser, errors, urls);
  const resp = await v.goto(base + '/#/admin', { waitUntil: 'load' });
  out.csp = resp.headers()['content-security-policy'] || null;
  await signIn(v, viewerToken);
  await v.locator('#admin-denied').waitFor({ timeout: 10000 });
  out.denied_vi = await v.locator('#admin-denied').textContent();
  await v.close();

  // An admin.
  const p = await page(browser, errors, urls);
  await p.goto(base + '/#/admin', { waitUntil: 'load' });
  await signIn(p, adminToken);
  await p.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#health tbody tr')];
    return rows.length >= 2 && rows.some((r) => r.dataset.status === 'offline' && r.querySelector('.reason').textContent)
      && rows.some((r) => r.dataset.status === 'recording' && r.querySelector('.bitrate').textContent !== '—');
  }, null, { timeout: 30000 });
  out.health_vi = await rowsOf(p, '#health tbody tr');
  out.heading_vi = await p.locator('#admin-health h2').textContent();
  out.zone = await p.locator('#admin-zone').textContent();
  if (shot) await p.screenshot({ path: shot + '-vi.png', fullPage: true });

  // Filter by status.
  await p.selectOption('#health-status', 'offline');
  out.filtered_offline = (await rowsOf(p, '#health tbody tr')).map((r) => r.id);
  await p.selectOption('#health-status', '');
  await p.selectOption('#health-district', 'Lục Nam');
  out.filtered_district = (await rowsOf(p, '#health tbody tr')).map((r) => r.id);
  await p.selectOption('#health-district', '');
  // Sorted by camera id, then the other way.
  await p.click('#health th[data-sort="id"]');
  out.sorted_id = (await rowsOf(p, '#health tbody tr')).map((r) => r.id);
  await p.click('#health th[data-sort="id"]');
  out.sorted_id_desc = (await rowsOf(p, '#health tbody tr')).map((r) => r.id);

  // English from here on (the view re-mounts in the new language).
  await p.selectOption('#lang', 'en');
  await p.waitForFunction(() => document.querySelector('#admin-health h2')?.textContent === 'Camera health',
                          null, { timeout: 10000 });
  await p.waitForFunction(() => document.querySelectorAll('#health tbody tr').length >= 2, null, { timeout: 10000 });
  out.health_en = await rowsOf(p, '#health tbody tr');

  // The lock, released through the page with a reason.
  const lockRow = p.locator(`#locks tbody tr[data-id="${lockId}"]`);
  await lockRow.waitFor({ timeout: 10000 });
  out.lock_listed = await lockRow.locator('td').allTextContents();
  await lockRow.locator('button.release').click();
  await p.locator('#release-form').waitFor({ state: 'visible' });
  await p.click('#release-ok'); // without a reason: refused by the page
  out.release_need = await p.locator('#release-msg').textContent();
  await p.fill('#release-reason', reason);
  await p.click('#release-ok');
  await lockRow.waitFor({ state: 'detached', timeout: 10000 });
  out.release_msg = await p.locator('#locks-msg').textContent();

  // The audit trail, filtered by action.
  await p.fill('#audit-action', 'lock_release');
  await p.click('#audit-apply');
  await p.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#audit tbody tr')];
    return rows.length > 0 && rows.every((r) => r.dataset.action === 'lock_release');
  }, null, { timeout: 10000 });
  out.audit_release = await rowsOf(p, '#audit tbody tr');
  await p.fill('#audit-action', '');
  await p.click('#audit-apply');
  await p.waitForFunction(() => new Set([...document.querySelectorAll('#audit tbody tr')]
    .map((r) => r.dataset.action)).size > 1, null, { timeout: 10000 });
  const all = await rowsOf(p, '#audit tbody tr');
  out.audit_all_actions = [...new Set(all.map((r) => r.action))];
  out.audit_all = all.map((r) => ({ id: r.id, time: r.cells[0] }));
  // From the release on, typed as wall time in the console's zone.
  out.audit_start = out.audit_release[0].cells[0];
  await p.fill('#audit-start', out.audit_start.replace(' ', 'T'));
  await p.click('#audit-apply');
  await p.waitForFunction((n) => document.querySelectorAll('#audit tbody tr').length < n, all.length,
                          { timeout: 10000 });
  out.audit_since = (await rowsOf(p, '#audit tbody tr')).map((r) => ({ id: r.id, time: r.cells[0] }));
  await p.fill('#audit-start', '');
  await p.click('#audit-apply');

  // A reload that adds a camera.
  copyFileSync(added, config);
  await p.click('#reload-btn');
  await p.waitForFunction((id) => document.querySelector('#reload-result')?.dataset.state === 'ok'
    && document.querySelector('#reload-result li[data-kind="added"]')?.textContent.includes(id),
  addedId, { timeout: 20000 });
  out.reload_ok = await p.locator('#reload-result').innerText();
  out.reload_added = await p.locator('#reload-result li[data-kind="added"]').textContent();
  await p.waitForFunction((id) => !!document.querySelector(`#health tbody tr[data-id="${id}"]`), addedId,
                          { timeout: 15000 });
  out.health_after_add = (await rowsOf(p, '#health tbody tr')).map((r) => r.id);

  // A broken config: refused, and why.
  copyFileSync(broken, config);
  await p.click('#reload-btn');
  await p.waitForFunction(() => document.querySelector('#reload-result')?.dataset.state === 'refused',
                          null, { timeout: 20000 });
  out.reload_refused = await p.locator('#reload-result').innerText();
  out.reload_reason = await p.locator('#reload-result .reason').textContent();
  out.health_after_refusal = await rowsOf(p, '#health tbody tr');
  if (shot) await p.screenshot({ path: shot + '-en.png', fullPage: true });

  // Vietnamese again: the refusal as kept by vigild (GET /api/reload).
  await p.selectOption('#lang', 'vi');
  await p.waitForFunction(() => document.querySelector('#reload-result p.refused')?.textContent.startsWith('Bị từ chối'),
                          null, { timeout: 10000 });
  out.reload_refused_vi = await p.locator('#reload-result').innerText();
  if (shot) await p.screenshot({ path: shot + '-refused-vi.png', fullPage: true });

  out.page_errors = errors;
  out.foreign = [...new Set(urls.filter((u) => !u.startsWith(origin + '/') && !u.startsWith('data:')))];
});
