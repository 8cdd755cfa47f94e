// The hosted widget in a real browser (Debian's headless Chromium, playwright-core): a tiny
// app on loopback gets widget tokens with its own callback URLs, sends the browser to the
// fake's /widget/, and the user goes through consent, CPF and password and the MFA token to
// the app's success URL (the link it names is valid); then an exit with the survey, update
// mode repairing a token_required link, the drop-in widget script embedding the same screens
// (callback, onEvent, onExit), and an expired token reaching the app's event URL. A
// screenshot of every screen; fails on any console error.
// Usage: node widget.mjs BASE_URL SECRET_ID SECRET_PASSWORD SCREENSHOT_PREFIX
import assert from 'node:assert/strict';
import http from 'node:http';
import { launchBrowser } from './browser.mjs';

const [base, secretId, secretPassword, shots] = process.argv.slice(2);
const auth = 'Basic ' + Buffer.from(`${secretId}:${secretPassword}`).toString('base64');

// The app: its callback pages say what they were given; /embed.html loads the fake's drop-in
// for Belvo's widget script and records what its callbacks hear.
const EMBED = `<!doctype html><html><head><meta charset="utf-8"><title>app</title>
<link rel="icon" href="data:,"></head><body><div id="belvo"></div>
<script src="${base}/belvo-widget-1-stable.js"></script>
<script>
  window.seen = { events: [] };
  window.openWidget = (token, config) => window.belvoSDK.createWidget(token, Object.assign({
    callback: (link, institution) => { window.seen.success = { link, institution }; },
    onExit: (data) => { window.seen.exit = data; },
    onEvent: (data) => { window.seen.events.push(data); },
  }, config)).build();
</script></body></html>`;
const app = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
  if (req.url === '/embed.html') return res.end(EMBED);
  res.end(`<!doctype html><title>app</title><link rel="icon" href="data:,"><p id="where">${req.url.replace(/</g, '&lt;')}</p>`);
});
await new Promise((resolve) => app.listen(0, '127.0.0.1', resolve));
const appUrl = `http://127.0.0.1:${app.address().port}`;
const logo = 'data:image/svg+xml,' + encodeURIComponent(
  '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><rect width="120" height="40" fill="#1f4fd1"/></svg>');

async function widgetToken() {
  const answer = await fetch(`${base}/api/token/`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      id: secretId, password: secretPassword, scopes: 'read_institutions,write_links',
      stale_in: '365d', credentials_storage: 'store', fetch_resources: ['EMPLOYMENTS', 'OWNERS'],
      widget: {
        callback_urls: { success: `${appUrl}/success`, exit: `${appUrl}/exit`, event: `${appUrl}/event` },
        branding: { company_icon: logo, company_logo: logo, company_name: 'ACME Crédito', company_terms_url: `${appUrl}/terms` },
      },
    }),
  });
  assert.equal(answer.status, 200);
  return (await answer.json()).access;
}

const browser = await launchBrowser();
const errors = [];
try {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } }); // a phone
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));

  // Connect: consent → CPF and password → MFA token → the app's success URL.
  await page.goto(`${base}/widget/?access_token=${await widgetToken()}&locale=pt&access_mode=recurrent`);
  assert.ok((await page.textContent('main')).includes('ACME Crédito'), 'the branding');
  await page.screenshot({ path: `${shots}-consent.png`, fullPage: true });
  await Promise.all([page.waitForURL(/\/widget\/login/), page.click('text=Continuar')]);
  await page.screenshot({ path: `${shots}-login.png`, fullPage: true });
  await page.fill('#username', '529.982.247-25');
  await page.fill('#password', 'mock:invalid');
  await page.click('button[type=submit]');
  assert.ok((await page.textContent('[role=alert]')).includes('Invalid credentials provided to login to the institution'));
  await page.screenshot({ path: `${shots}-login-error.png`, fullPage: true });
  await page.fill('#username', '529.982.247-25');
  await page.fill('#password', 'secret-123');
  await page.click('button[type=submit]');
  await page.waitForSelector('#token');
  await page.screenshot({ path: `${shots}-mfa.png`, fullPage: true });
  await page.fill('#token', '123456');
  await Promise.all([page.waitForURL(`${appUrl}/success?*`), page.click('button[type=submit]')]);
  const success = new URL(page.url());
  assert.equal(success.searchParams.get('institution'), 'inss_br_employment');
  const link = await fetch(`${base}/api/links/${success.searchParams.get('link')}/`, { headers: { Authorization: auth } });
  assert.equal(link.status, 200);
  assert.equal((await link.json()).status, 'valid');

  // Exit at consent: the dialog with the survey, then the app's exit URL.
  await page.goto(`${base}/widget/?access_token=${await widgetToken()}&locale=en`);
  await Promise.all([page.waitForURL(/\/widget\/exit/), page.click('text=Exit')]);
  await page.check('input[name=reason][value="1"]');
  await page.screenshot({ path: `${shots}-exit.png`, fullPage: true });
  await Promise.all([page.waitForURL(`${appUrl}/exit?*`), page.click('button[type=submit]')]);
  assert.equal(new URL(page.url()).searchParams.get('meta_data_step'), 'abandon-survey');

  // Update mode: a link the institution now asks a new MFA token of is repaired in place.
  const api = (method, path, body) => fetch(`${base}${path}`, {
    method, headers: { Authorization: auth, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const [challenge] = await (await api('POST', '/api/links/', {
    institution: 'inss_br_employment', username: '529.982.247-25', password: 'secret-123',
  })).json();
  await api('PATCH', '/api/links/', { link: challenge.link, session: challenge.session, token: '123456' });
  await api('PUT', `/_mock/links/${challenge.link}/scenario`, { scenario: 'mock:token-required' });
  await api('POST', '/_mock/clock/advance', { seconds: 660 }); // past the refresh cooldown
  assert.equal((await api('POST', `/api/links/${challenge.link}/refresh/`, {})).status, 202);
  assert.equal((await (await api('GET', `/api/links/${challenge.link}/`)).json()).status, 'token_required');
  const repair = await (await api('POST', '/api/token/', {
    id: secretId, password: secretPassword, link_id: challenge.link, scopes: 'read_institutions,write_links,read_links',
    widget: { callback_urls: { success: `${appUrl}/success`, exit: `${appUrl}/exit`, event: `${appUrl}/event` } },
  })).json();
  await page.goto(`${base}/widget/?access_token=${repair.access}&locale=en`);
  await Promise.all([page.waitForURL(/\/widget\/login/), page.click('text=Continue')]);
  await page.screenshot({ path: `${shots}-update.png`, fullPage: true });
  await page.click('button[type=submit]');
  await page.fill('#token', '123456');
  await Promise.all([page.waitForURL(`${appUrl}/success?*`), page.click('button[type=submit]')]);
  assert.equal(new URL(page.url()).searchParams.get('link'), challenge.link, 'the same link');
  assert.equal((await (await api('GET', `/api/links/${challenge.link}/`)).json()).status, 'valid');

  // The drop-in script: the same screens in an iframe of the app's page; callback(link,
  // institution), onEvent's PAGE_LOAD and ERROR, then onExit with one object.
  await page.goto(`${appUrl}/embed.html`);
  await page.evaluate((token) => window.openWidget(token, { locale: 'en', access_mode: 'single' }), await widgetToken());
  const frame = page.frameLocator('#belvo iframe');
  await frame.locator('text=Continue').click();
  await frame.locator('#username').fill('529.982.247-25');
  await frame.locator('#password').fill('mock:locked');
  await frame.locator('button[type=submit]').first().click();
  await frame.locator('[role=alert]').waitFor();
  await frame.locator('#username').fill('529.982.247-25');
  await frame.locator('#password').fill('secret-123');
  await frame.locator('button[type=submit]').first().click();
  await frame.locator('#token').fill('123456');
  await page.screenshot({ path: `${shots}-embedded.png`, fullPage: true });
  await frame.locator('button[type=submit]').first().click();
  await page.waitForFunction(() => window.seen.success !== undefined);
  const seen = await page.evaluate(() => window.seen);
  assert.equal(seen.success.institution, 'inss_br_employment');
  const embedded = await fetch(`${base}/api/links/${seen.success.link}/`, { headers: { Authorization: auth } });
  const embeddedLink = await embedded.json();
  assert.deepEqual([embeddedLink.status, embeddedLink.access_mode], ['valid', 'single']);
  assert.deepEqual(seen.events.filter((e) => e.eventName === 'PAGE_LOAD').map((e) => e.metadata.page),
    ['/consent', '/login', '/login', '/mfa']);
  const locked = seen.events.find((e) => e.eventName === 'ERROR');
  assert.equal(locked.meta_data.error_code, 'login_error');
  assert.equal(await page.locator('#belvo iframe').count(), 0, 'the iframe is gone after success');
  await page.evaluate((token) => window.openWidget(token, { locale: 'en', show_close_dialog: false }), await widgetToken());
  await page.frameLocator('#belvo iframe').locator('text=Exit').click();
  await page.waitForFunction(() => window.seen.exit !== undefined);
  assert.deepEqual(await page.evaluate(() => window.seen.exit), { meta_data: { step: 'abandon-survey' } });

  // An expired token: the app's event URL with ACCESS_TOKEN_NOT_VALID.
  const expired = await widgetToken();
  const advanced = await fetch(`${base}/_mock/clock/advance`, {
    method: 'POST', headers: { Authorization: auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({ seconds: 601 }),
  });
  assert.equal(advanced.status, 200);
  await page.goto(`${base}/widget/?access_token=${expired}`);
  await page.waitForURL(`${appUrl}/event?*`);
  assert.equal(new URL(page.url()).searchParams.get('error'), 'ACCESS_TOKEN_NOT_VALID');
} finally {
  await browser.close();
  app.closeAllConnections();
  app.close();
}
assert.deepEqual(errors, [], 'no console error');
console.log(`widget: browser flow OK (screenshots ${shots}-*.png)`);
process.exit(0);
