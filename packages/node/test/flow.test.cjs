// The link flow with the official belvo SDK against a fake started by the installed package
// (CommonJS require), under `node --test`: MFA, both historical_update webhooks, a scenario,
// session expiry through the virtual clock, and reset(). Loopback only; every test is bounded.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const Client = require('belvo').default;
const { startBelvoMock, startWebhookReceiver } = require('belvo-mock');

const CPF = '529.982.247-25';
const LIMIT = { timeout: 30_000 };

let mock;
let receiver;

before(async () => {
  mock = await startBelvoMock();
  receiver = await startWebhookReceiver();
});

after(async () => {
  await mock?.stop();
  await receiver?.close();
});

async function connectedClient() {
  const client = new Client(mock.secretId, mock.secretPassword, mock.url);
  await client.connect();
  return client;
}

// register() answers 428 token_required: the SDK rejects with the challenge in error.detail.
async function registerChallenge(client, password = 'secret-123') {
  try {
    await client.links.register('inss_br_employment', CPF, password);
  } catch (error) {
    assert.equal(error.statusCode, 428, String(error));
    const [challenge] = error.detail;
    assert.equal(challenge.code, 'token_required');
    return challenge;
  }
  assert.fail('register must be rejected with a 428');
}

test('the handle describes the fake it started', LIMIT, async () => {
  assert.match(mock.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(mock.secretId, 'sandbox-secret-id');
  assert.equal(mock.secretPassword, 'sandbox-secret-password');
  assert.deepEqual(mock.env, {
    BELVO_API_URL: mock.url,
    BELVO_SECRET_ID: 'sandbox-secret-id',
    BELVO_SECRET_PASSWORD: 'sandbox-secret-password',
  });
  const health = await fetch(`${mock.url}/_mock/health`).then((r) => r.json());
  assert.deepEqual(health, { status: 'ok', version: '0.1.0' });
});

test('link + MFA: both historical_update webhooks arrive and match the lists', LIMIT, async () => {
  await mock.reset();
  const config = await mock.setWebhook(receiver.url, 'Bearer test-token');
  assert.deepEqual(config, { url: receiver.url, authorization: 'Bearer test-token' });
  receiver.received.length = 0;

  const client = await connectedClient();
  const challenge = await registerChallenge(client);
  const link = await client.links.resume(challenge.session, '123456', challenge.link);
  assert.equal(link.status, 'valid');
  assert.equal(link.id, challenge.link);

  const payloads = await receiver.waitFor(2, 10_000);
  const byType = Object.fromEntries(payloads.map((p) => [p.webhook_type, p]));
  assert.deepEqual(Object.keys(byType).sort(), ['EMPLOYMENTS', 'OWNERS']);
  for (const payload of payloads) {
    assert.equal(payload.webhook_code, 'historical_update');
    assert.equal(payload.link_id, link.id);
    assert.equal(typeof payload.webhook_id, 'string');
  }
  for (const { headers } of receiver.received) {
    assert.equal(headers.authorization, 'Bearer test-token');
  }

  const owners = await client.owners.list({ filters: { link: link.id } });
  // belvo 0.28.0 has no resource for Brazil's employments; its generic paginated list is the
  // same code path the SDK's resources use.
  const employments = await client.session.list('api/br/employments/', 1000, { link: link.id });
  assert.ok(owners.length > 0 && employments.length > 0, 'the fake generates data for any CPF');
  assert.deepEqual(byType.OWNERS.data, { total_owners: owners.length });
  assert.deepEqual(byType.EMPLOYMENTS.data, { total_employments: employments.length });

  // The fake's journal agrees with what the receiver saw.
  const deliveries = await mock.deliveries();
  assert.equal(deliveries.length, 2);
  for (const delivery of deliveries) {
    assert.equal(delivery.status, 'delivered');
    assert.equal(delivery.attempts.length, 1);
    assert.equal(delivery.attempts[0].status_code, 200);
  }
  assert.deepEqual(
    deliveries.map((d) => d.payload.webhook_id).sort(),
    payloads.map((p) => p.webhook_id).sort(),
  );
  assert.deepEqual(await mock.flush(), { flushed: 0 }, 'nothing left pending');
});

test('scenario mock:locked: 400 login_error', LIMIT, async () => {
  const client = await connectedClient();
  await assert.rejects(client.links.register('inss_br_employment', CPF, 'mock:locked'), (error) => {
    assert.equal(error.statusCode, 400);
    assert.equal(error.detail[0].code, 'login_error');
    assert.match(error.detail[0].message, /locked/);
    return true;
  });
});

test('advanceClock(121): resuming the old MFA session is session_expired', LIMIT, async () => {
  const client = await connectedClient();
  const challenge = await registerChallenge(client);
  assert.equal(challenge.expiry, 120);
  const before = await fetch(`${mock.url}/_mock/clock`, {
    headers: { authorization: `Basic ${Buffer.from(`${mock.secretId}:${mock.secretPassword}`).toString('base64')}` },
  }).then((r) => r.json());
  const clock = await mock.advanceClock(121);
  assert.equal(clock.offset_seconds, before.offset_seconds + 121);
  await assert.rejects(client.links.resume(challenge.session, '123456', challenge.link), (error) => {
    assert.equal(error.statusCode, 400);
    assert.equal(error.detail[0].code, 'session_expired');
    return true;
  });
});

test('reset() forgets links and deliveries', LIMIT, async () => {
  const client = await connectedClient();
  const challenge = await registerChallenge(client);
  await client.links.resume(challenge.session, '123456', challenge.link);
  assert.ok((await client.links.list()).length > 0);

  await mock.reset();
  assert.deepEqual(await client.links.list(), []);
  assert.deepEqual(await mock.deliveries(), []);
});

test('control calls with the wrong key pair throw with status and body', LIMIT, async () => {
  const other = await startBelvoMock({ url: mock.url, secretId: 'not-a-key', secretPassword: 'nope' });
  await assert.rejects(other.reset(), (error) => {
    assert.equal(error.status, 401);
    assert.match(error.body, /authentication_failed/);
    assert.match(error.message, /POST .*\/_mock\/reset answered 401/);
    return true;
  });
});

test('widgetToken(): an access token pair, and an update-mode one for a link', LIMIT, async () => {
  const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
  const fresh = await mock.widgetToken();
  assert.deepEqual(Object.keys(fresh).sort(), ['access', 'refresh']);
  assert.equal(claims(fresh.access).token_type, 'access');
  assert.equal(claims(fresh.access).exp - claims(fresh.access).iat, 600);

  const client = await connectedClient();
  const challenge = await registerChallenge(client);
  const link = await client.links.resume(challenge.session, '123456', challenge.link);
  const update = await mock.widgetToken({ link: link.id, stale_in: '30d' });
  assert.deepEqual(claims(update.access).link, { id: link.id, status: 'valid', institution: 'inss_br_employment' });
  assert.equal(claims(update.access).stale_in, '30d');
});
