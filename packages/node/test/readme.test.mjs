// The README's example (packages/snippets.py checks the README shows this file verbatim).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import Belvo from 'belvo';
import { startBelvoMock, startWebhookReceiver } from 'belvo-mock';

const mock = await startBelvoMock(); // a free port on 127.0.0.1, ready when it resolves
const hooks = await startWebhookReceiver(); // http://127.0.0.1:PORT/webhooks, answers 200
after(() => Promise.all([mock.stop(), hooks.close()]));

test('a link with MFA, then its two webhooks', { timeout: 30_000 }, async () => {
  await mock.reset();
  await mock.setWebhook(hooks.url, 'Bearer test');
  const client = new Belvo.default(mock.secretId, mock.secretPassword, mock.url);
  await client.connect();
  const challenge = await client.links
    .register('inss_br_employment', '529.982.247-25', 'secret-123')
    .catch((error) => error.detail[0]); // 428 token_required
  const link = await client.links.resume(challenge.session, '123456', challenge.link);
  assert.equal(link.status, 'valid');

  const webhooks = await hooks.waitFor(2); // OWNERS and EMPLOYMENTS historical_update
  assert.deepEqual(webhooks.map((w) => w.webhook_type).sort(), ['EMPLOYMENTS', 'OWNERS']);
});
