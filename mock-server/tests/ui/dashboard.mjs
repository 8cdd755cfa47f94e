// The dashboard in a real browser (Debian's headless Chromium driven by playwright-core):
// set the webhook URL in the settings form, complete a link flow through the API, watch both
// deliveries appear, click Redeliver, open the link page, save a screenshot. Fails on any
// console error.
// Usage: node dashboard.mjs BASE_URL SECRET_ID SECRET_PASSWORD SCREENSHOT.png
import assert from 'node:assert/strict';
import http from 'node:http';
import { launchBrowser } from './browser.mjs';

const [base, secretId, secretPassword, screenshot] = process.argv.slice(2);
const auth = 'Basic ' + Buffer.from(`${secretId}:${secretPassword}`).toString('base64');

const received = [];
const receiver = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    received.push({ authorization: req.headers.authorization, body: JSON.parse(body) });
    res.writeHead(200);
    res.end('ok');
  });
});
await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const hookUrl = `http://127.0.0.1:${receiver.address().port}/hooks`;

const browser = await launchBrowser();
const errors = [];
try {
  const context = await browser.newContext({
    httpCredentials: { username: secretId, password: secretPassword },
    viewport: { width: 1280, height: 900 },
  });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));

  // Settings, like Belvo's Developers → Webhooks.
  await page.goto(`${base}/_mock/ui/webhooks`);
  await page.fill('#settings input[name=url]', hookUrl);
  await page.fill('#settings input[name=authorization]', 'ui-token');
  await Promise.all([page.waitForURL(`${base}/_mock/ui/webhooks`), page.click('#settings button[type=submit]')]);
  assert.equal(await page.inputValue('#settings input[name=url]'), hookUrl);

  // A real link flow through the API: 428, then the MFA token.
  const headers = { Authorization: auth, 'Content-Type': 'application/json' };
  const created = await fetch(`${base}/api/links/`, {
    method: 'POST', headers,
    body: JSON.stringify({ institution: 'inss_br_employment', username: '529.982.247-25', password: 'browser-pass' }),
  });
  assert.equal(created.status, 428);
  const [challenge] = await created.json();
  const resumed = await fetch(`${base}/api/links/`, {
    method: 'PATCH', headers,
    body: JSON.stringify({ link: challenge.link, session: challenge.session, token: '123456' }),
  });
  assert.equal(resumed.status, 200);

  // Both deliveries of this link appear on the page.
  const mine = `tr.delivery:has(a[href="/_mock/ui/links/${challenge.link}"])`;
  let delivered = 0;
  for (let i = 0; i < 100 && delivered < 2; i++) {
    await page.goto(`${base}/_mock/ui/webhooks`);
    delivered = await page.locator(`${mine} .status.delivered`).count();
    if (delivered < 2) await page.waitForTimeout(100);
  }
  assert.equal(delivered, 2, 'both webhooks show as delivered');

  // Redeliver the first one: a second attempt shows.
  const row = page.locator(mine).first();
  const webhookId = await row.getAttribute('data-webhook-id');
  await Promise.all([page.waitForURL(`${base}/_mock/ui/webhooks`), row.locator('button', { hasText: 'Redeliver' }).click()]);
  let attempts = '1';
  for (let i = 0; i < 100 && attempts !== '2'; i++) {
    await page.goto(`${base}/_mock/ui/webhooks`);
    attempts = (await page.locator(`tr[data-webhook-id="${webhookId}"] .attempt-count`).textContent()).trim();
    if (attempts !== '2') await page.waitForTimeout(100);
  }
  assert.equal(attempts, '2', 'the redelivery is a second attempt');
  assert.ok(received.length >= 3, `three requests reached the receiver (${received.length})`);
  assert.ok(received.every((r) => r.authorization === 'Bearer ui-token'), 'with the Authorization set in the form');

  // The link page shows its employments and webhooks; then the requests journal.
  await page.goto(`${base}/_mock/ui/links/${challenge.link}`);
  assert.ok((await page.locator('#employments tr').count()) >= 2, 'employments listed');
  assert.ok((await page.locator('#deliveries tr.delivery').count()) >= 2, 'its webhooks listed');
  await page.screenshot({ path: screenshot, fullPage: true });
  await page.goto(`${base}/_mock/ui/requests?path=/api/links`);
  assert.ok((await page.locator('#requests tr').count()) >= 3, 'the journal lists the link requests');
} finally {
  await browser.close();
  // The fake keeps its webhook connections alive; do not wait for them to time out.
  receiver.closeAllConnections();
  receiver.close();
}
assert.deepEqual(errors, [], 'no console error');
console.log(`dashboard: browser flow OK (screenshot ${screenshot})`);
process.exit(0);
