// The link flow with the official belvo npm SDK, unchanged, against a running fake.
// Usage: node check_node.js BASE_URL SECRET_ID SECRET_PASSWORD
const assert = require('assert');
const Client = require('belvo').default;

const [base, secretId, secretPassword] = process.argv.slice(2);
const CPF = '529.982.247-25';

(async () => {
  const client = new Client(secretId, secretPassword, base);
  await client.connect(); // GET /api/

  let challenge;
  try {
    await client.links.register('inss_br_employment', CPF, 'a-good-password');
    assert.fail('register must be rejected with a 428');
  } catch (error) {
    assert.strictEqual(error.statusCode, 428, String(error));
    challenge = error.detail[0];
  }
  assert.strictEqual(challenge.code, 'token_required');

  const link = await client.links.resume(challenge.session, '123456', challenge.link);
  assert.strictEqual(link.status, 'valid');
  assert.strictEqual(link.id, challenge.link);

  const listed = await client.links.list();
  assert.ok(listed.some((l) => l.id === link.id), 'the link is listed');

  const detail = await client.links.detail(link.id);
  assert.strictEqual(detail.id, link.id);

  try {
    await client.links.register('inss_br_employment', CPF, 'mock:locked');
    assert.fail('mock:locked must fail');
  } catch (error) {
    assert.strictEqual(error.statusCode, 400);
    assert.strictEqual(error.detail[0].code, 'login_error');
  }

  // Widget access tokens: a new connection, and update mode for the link.
  const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
  const fresh = await client.widgetToken.create();
  assert.deepStrictEqual(Object.keys(fresh).sort(), ['access', 'refresh']);
  assert.deepStrictEqual(claims(fresh.access).scopes, ['read_institutions', 'write_links']);
  const update = await client.widgetToken.create({ link: link.id });
  assert.strictEqual(claims(update.access).link.id, link.id);

  await client.links.delete(link.id);
  console.log('belvo (npm): link flow OK (widget tokens too)');
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
