// Lighthouse's accessibility audit of the flow designer, driven by bench_designer_a11y.py (which starts the app and
// says where Lighthouse is installed). A user flow in Debian's Chromium: the templates list, a template, a step's
// panel, Simulate with its result and the version comparison dialog, each audited as a snapshot. Prints one JSON
// object: {steps: [{name, score, audited, failing: [{id, title, items}]}]}.
//
//   node bench/designer_a11y.mjs <lighthouse prefix> <base url> <login> <password>
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [prefix, base, login, password] = process.argv.slice(2);
const from = (rel) => import(pathToFileURL(path.join(prefix, 'node_modules', rel)).href);
const { startFlow } = await from('lighthouse/core/index.js');
const puppeteer = (await from('puppeteer-core/lib/esm/puppeteer/puppeteer-core.js')).default;

const browser = await puppeteer.launch({
  executablePath: process.env.CHROME_PATH || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  defaultViewport: null,
});
const steps = [];
try {
  const page = await browser.newPage();
  // Signed in through the sign-in form (storage is kept between the flow's steps).
  await page.goto(`${base}/#/signin`);
  await page.waitForSelector('input[name=login]');
  await page.type('input[name=login]', login);
  await page.type('input[name=password]', password);
  await page.click('form.signin-form button[type=submit]');
  await page.waitForFunction(() => !location.hash.startsWith('#/signin'), { timeout: 20000 });
  const config = {
    extends: 'lighthouse:default',
    settings: {
      onlyCategories: ['accessibility'], disableStorageReset: true, formFactor: 'desktop',
      screenEmulation: { mobile: false, width: 1280, height: 800, deviceScaleFactor: 1, disabled: false },
      throttlingMethod: 'provided',
    },
  };
  const flow = await startFlow(page, { config });
  const ready = (selector) => page.waitForSelector(selector, { visible: true, timeout: 20000 });
  const settled = (text) => page.waitForFunction((t) => (document.querySelector('.flow-status') || {}).textContent === t, { timeout: 20000 }, text);

  // Each state is reached as the admin reaches it and audited as a snapshot: a navigation of this single-page app in
  // headless Chromium reports no first paint (NO_FCP), and every accessibility audit runs on a snapshot the same way.
  await page.goto(`${base}/#/admin/flows`);
  await ready('tr[data-key=recall]');
  await flow.snapshot({ name: 'templates' });

  await page.goto(`${base}/#/admin/flows/recall`);
  await ready('.flow-card[data-step=pickup]');
  await page.waitForFunction(() => /\S/.test((document.querySelector('.flow-status') || {}).textContent || '')
    && !document.querySelector('.flow-status').textContent.endsWith('…'), { timeout: 20000 });
  const valid = await page.$eval('.flow-status', (el) => el.textContent);
  await flow.snapshot({ name: 'designer' });

  await page.click('.flow-card[data-step=pickup]');
  await ready('.flow-panel [data-field=when] .flow-when-row');
  await flow.snapshot({ name: 'step panel' });

  await page.click('.flow-card[data-step=restock]');
  await ready('.flow-panel .flow-esc-line');
  await flow.snapshot({ name: 'step panel (for each, otherwise)' });

  await page.click('.flow-head .button-row button[aria-pressed]');
  await ready('.flow-panel .flow-sim');
  await page.select('.flow-sim select[data-step=contact]', 'refused');
  await page.click('.flow-sim button[type=submit]');
  await ready('.flow-card-sim-skipped');
  await flow.snapshot({ name: 'simulate' });

  await page.goto(`${base}/#/admin/flows/complaint`);
  await ready('.flow-card[data-step=triage]');
  await settled(valid);
  const compare = await page.$$('.flow-head .button-row button');
  await compare[0].click();
  await ready('dialog[open] .flow-diff-out');
  await flow.snapshot({ name: 'compare versions' });

  const result = await flow.createFlowResult();
  for (const step of result.steps) {
    const lhr = step.lhr;
    const failing = Object.values(lhr.audits)
      .filter((a) => a.score !== null && a.score < 1 && a.scoreDisplayMode === 'binary')
      .map((a) => ({ id: a.id, title: a.title, items: ((a.details && a.details.items) || []).slice(0, 5).map((i) => (i.node && (i.node.snippet || i.node.selector)) || '') }));
    if (lhr.runtimeError) failing.unshift({ id: lhr.runtimeError.code, title: lhr.runtimeError.message, items: [] });
    const warnings = (lhr.runWarnings || []).map((w) => ({ id: 'warning', title: String(w).slice(0, 300), items: [] }));
    steps.push({ name: step.name, score: Math.round((lhr.categories.accessibility.score || 0) * 100), failing: [...failing, ...warnings],
      audited: Object.values(lhr.audits).filter((a) => a.score !== null && a.scoreDisplayMode === 'binary').map((a) => a.id) });
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({ steps }));
