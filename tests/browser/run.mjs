// What every browser test shares: Debian's chromium started headless the way
// this closed network needs (no background connections, no component
// updates), and one way to end a run: the JSON of what was seen on stdout,
// the browser closed, exit status 1 with the error on stderr if anything failed.
import { chromium } from 'playwright-core';

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--autoplay-policy=no-user-gesture-required'],
  });
}

// Runs body(browser); prints out (which body fills in) whatever happened.
export async function drive(out, body) {
  const browser = await launch();
  let failed = null;
  try {
    await body(browser);
  } catch (e) {
    failed = e;
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
  if (failed) {
    console.error(String(failed.stack || failed));
    process.exit(1);
  }
}
