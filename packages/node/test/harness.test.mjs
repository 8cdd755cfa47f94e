// The installed package's harness, from ESM (`import … from 'belvo-mock'`), under `node --test`:
// binary resolution (platform package, BELVO_MOCK_BINARY), `npx belvo-mock`, the `url` option,
// the child's environment (the caller's BELVO_* left out; the password put there rather than on
// argv; loopback added to NO_PROXY), fixtures selection, start-up failures, stop() and the exit
// hook. Loopback only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Client from 'belvo';
import helper, { startBelvoMock, startWebhookReceiver, resolveBinary } from 'belvo-mock';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
// test.sh copies this file into <project>/test/, beside the project's node_modules.
const project = path.resolve(here, '..');
const LIMIT = { timeout: 30_000 };
const BelvoClient = Client.default ?? Client;

async function isUp(url) {
  try {
    return (await fetch(`${url}/_mock/health`)).status === 200;
  } catch {
    return false;
  }
}

// A killed process's port may take a moment to stop answering.
async function eventuallyDown(url) {
  const deadline = Date.now() + 3_000;
  while (await isUp(url)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

// An override that proves it was used: a shell script that leaves a mark, then runs the real binary.
function markingWrapper(realBinary) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'belvo-mock-override-'));
  const mark = path.join(dir, 'used');
  const script = path.join(dir, 'belvo-mock-wrapper');
  fs.writeFileSync(script, `#!/bin/sh\necho "$@" > '${mark}'\nexec '${realBinary}' "$@"\n`, { mode: 0o755 });
  return { dir, mark, script };
}

function withEnv(vars, fn) {
  const saved = {};
  for (const key of Object.keys(vars)) {
    saved[key] = process.env[key];
    if (vars[key] === undefined) delete process.env[key];
    else process.env[key] = vars[key];
  }
  const restore = () => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
  return Promise.resolve().then(fn).finally(restore);
}

test('ESM named and default imports are the CommonJS module', () => {
  assert.equal(typeof startBelvoMock, 'function');
  assert.equal(typeof startWebhookReceiver, 'function');
  assert.equal(helper.startBelvoMock, startBelvoMock);
});

test('without an override the binary comes from the platform package', { skip: `${process.platform}-${process.arch}` !== 'linux-x64' }, () => {
  assert.equal(process.env.BELVO_MOCK_BINARY, undefined, 'test.sh runs the tests without an override');
  const binary = resolveBinary();
  assert.equal(binary, path.join(project, 'node_modules', '@belvo-mock', 'cli-linux-x64', 'bin', 'belvo-mock'));
});

// --offline: the package is installed locally, and a test must never reach the registry.
test('npx belvo-mock --version runs the binary', LIMIT, async () => {
  const { stdout } = await run('npx', ['--offline', 'belvo-mock', '--version'], { cwd: project, timeout: 20_000 });
  assert.equal(stdout.trim(), 'belvo-mock 0.1.0');
});

test('the bin passes the exit code on', LIMIT, async () => {
  const bin = path.join(project, 'node_modules', '.bin', 'belvo-mock');
  await assert.rejects(run(bin, ['--no-such-flag'], { timeout: 20_000 }), (error) => {
    assert.equal(error.code, 2, 'clap exits 2 on a usage error');
    assert.match(error.stderr, /--no-such-flag/);
    return true;
  });
});

test('the bin forwards SIGTERM: the fake exits gracefully and so does the wrapper', LIMIT, async () => {
  const bin = path.join(project, 'node_modules', '.bin', 'belvo-mock');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'belvo-mock-bin-'));
  const ready = path.join(dir, 'ready.json');
  const child = spawn(bin, ['--addr', '127.0.0.1:0', '--no-fixtures', '--log-level', 'warn', '--ready-file', ready], {
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  try {
    const deadline = Date.now() + 10_000;
    while (!fs.existsSync(ready)) {
      assert.ok(Date.now() < deadline, 'the fake started through the bin');
      await new Promise((r) => setTimeout(r, 20));
    }
    const { url, pid } = JSON.parse(fs.readFileSync(ready, 'utf8'));
    assert.notEqual(pid, child.pid, 'the wrapper is a separate process');
    assert.ok(await isUp(url));
    child.kill('SIGTERM');
    assert.deepEqual(await exited, { code: 0, signal: null });
    assert.equal(await isUp(url), false);
  } finally {
    child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('BELVO_MOCK_BINARY overrides the platform package', LIMIT, async () => {
  const real = resolveBinary();
  const wrapper = markingWrapper(real);
  try {
    await withEnv({ BELVO_MOCK_BINARY: wrapper.script }, async () => {
      assert.equal(resolveBinary(), wrapper.script);
      const mock = await startBelvoMock();
      try {
        assert.ok(await isUp(mock.url));
        const argv = fs.readFileSync(wrapper.mark, 'utf8');
        assert.match(argv, /--addr 127\.0\.0\.1:0 /);
        assert.match(argv, /--no-fixtures/);
      } finally {
        await mock.stop();
      }
      // The bin honours it too.
      fs.rmSync(wrapper.mark);
      const { stdout } = await run('npx', ['--offline', 'belvo-mock', '--version'], { cwd: project, timeout: 20_000 });
      assert.equal(stdout.trim(), 'belvo-mock 0.1.0');
      assert.equal(fs.readFileSync(wrapper.mark, 'utf8').trim(), '--version');
    });
  } finally {
    fs.rmSync(wrapper.dir, { recursive: true, force: true });
  }
});

test('a bad BELVO_MOCK_BINARY is named in the error', async () => {
  await withEnv({ BELVO_MOCK_BINARY: '/nonexistent/belvo-mock' }, async () => {
    assert.throws(() => resolveBinary(), /BELVO_MOCK_BINARY is set to "\/nonexistent\/belvo-mock", which is not an executable file/);
    await assert.rejects(startBelvoMock(), /BELVO_MOCK_BINARY/);
  });
});

test('the url option attaches to a running fake; its stop() kills nothing', LIMIT, async () => {
  const owner = await startBelvoMock({ secretId: 'ci-id', secretPassword: 'ci-password' });
  try {
    const attached = await startBelvoMock({ url: `${owner.url}/`, secretId: 'ci-id', secretPassword: 'ci-password' });
    assert.equal(attached.url, owner.url, 'a trailing slash is dropped');
    assert.equal(attached.env.BELVO_API_URL, owner.url);
    assert.equal(attached.pid, null, 'an attached handle has no process of its own');
    assert.ok(Number.isInteger(owner.pid));

    const client = new BelvoClient('ci-id', 'ci-password', attached.url);
    await client.connect();
    await assert.rejects(client.links.register('inss_br_employment', '111.444.777-35', 'secret-123'), (e) => e.statusCode === 428);
    assert.equal((await client.links.list()).length, 1);
    await attached.reset();
    assert.equal((await client.links.list()).length, 0);

    await attached.stop();
    assert.ok(await isUp(owner.url), 'the fake the handle attached to is still running');
  } finally {
    await owner.stop();
  }
  assert.equal(await isUp(owner.url), false, 'stop() of the spawning handle ended the fake');
  await owner.stop(); // idempotent
});

test('the url option fails early when nothing answers', LIMIT, async () => {
  await assert.rejects(startBelvoMock({ url: 'http://127.0.0.1:9' }), /no fake answers at http:\/\/127\.0\.0\.1:9/);
});

test('BELVO_SECRET_* and BELVO_MOCK_* of the caller never reach the fake', LIMIT, async () => {
  await withEnv(
    {
      BELVO_SECRET_ID: 'production-id',
      BELVO_SECRET_PASSWORD: 'production-password',
      // If these leaked, the fake would not start (no such folder) or ask for no MFA.
      BELVO_MOCK_FIXTURES: '/nonexistent/fixtures',
      BELVO_MOCK_MFA: 'never',
    },
    async () => {
      const mock = await startBelvoMock();
      try {
        assert.equal(mock.secretId, 'sandbox-secret-id');
        const client = new BelvoClient(mock.secretId, mock.secretPassword, mock.url);
        await client.connect();
        await assert.rejects(client.links.register('inss_br_employment', '529.982.247-25', 'secret-123'), (e) => e.statusCode === 428);
      } finally {
        await mock.stop();
      }
    },
  );
});

test('args and env options reach the fake (explicit env is kept)', LIMIT, async () => {
  const mock = await startBelvoMock({ args: ['--session-expiry', '30'], env: { BELVO_MOCK_MFA: 'never' } });
  try {
    const client = new BelvoClient(mock.secretId, mock.secretPassword, mock.url);
    await client.connect();
    const link = await client.links.register('inss_br_employment', '529.982.247-25', 'secret-123');
    assert.equal(link.status, 'valid', '--mfa never came from options.env');
  } finally {
    await mock.stop();
  }
});

test('a fake that exits at start-up: the error quotes its stderr', LIMIT, async () => {
  await assert.rejects(startBelvoMock({ args: ['--no-such-flag'] }), (error) => {
    assert.match(error.message, /exited with code 2 before it was ready/);
    assert.match(error.message, /--no-such-flag/);
    return true;
  });
});

test('--fixtures in args replaces --no-fixtures (clap rejects both)', LIMIT, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'belvo-mock-fixtures-'));
  try {
    const mock = await startBelvoMock({ args: ['--fixtures', dir] });
    await mock.stop();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('BELVO_MOCK_FIXTURES in options.env replaces --no-fixtures (clap rejects both)', LIMIT, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'belvo-mock-fixtures-env-')); // no files in it
  try {
    const mock = await startBelvoMock({ env: { BELVO_MOCK_FIXTURES: dir } });
    try {
      assert.ok(await isUp(mock.url));
    } finally {
      await mock.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// Linux: /proc/<pid>/cmdline is what `ps` shows; /proc/<pid>/environ is readable by the same user.
test('the password reaches the fake by environment, not on its command line', { ...LIMIT, skip: process.platform !== 'linux' }, async () => {
  const password = 'not-on-the-command-line-4711';
  const mock = await startBelvoMock({ secretId: 'argv-id', secretPassword: password });
  try {
    assert.ok(Number.isInteger(mock.pid) && mock.pid > 1, `a pid: ${mock.pid}`);
    const argv = fs.readFileSync(`/proc/${mock.pid}/cmdline`, 'utf8').split('\0');
    assert.ok(argv.some((a) => a.endsWith('belvo-mock')), `the pid is the fake: ${argv.join(' ')}`);
    assert.ok(argv.includes('argv-id'), '--secret-id stays a flag');
    assert.ok(!argv.some((a) => a.includes(password)), `the password is in argv: ${argv.join(' ')}`);
    const environ = fs.readFileSync(`/proc/${mock.pid}/environ`, 'utf8').split('\0');
    assert.ok(environ.includes(`BELVO_SECRET_PASSWORD=${password}`));
    // …and the fake accepts it.
    const client = new BelvoClient('argv-id', password, mock.url);
    await client.connect();
    assert.deepEqual(await client.links.list(), []);
  } finally {
    await mock.stop();
  }
});

// HTTP_PROXY points at a port where nothing listens: a webhook sent through it would fail.
test('loopback is appended to the child\'s NO_PROXY / no_proxy: webhooks to 127.0.0.1 skip a proxy', { ...LIMIT, skip: process.platform !== 'linux' }, async () => {
  await withEnv(
    { NO_PROXY: 'corp.example', no_proxy: undefined, HTTP_PROXY: 'http://127.0.0.1:9', http_proxy: 'http://127.0.0.1:9', NODE_USE_ENV_PROXY: undefined },
    async () => {
      const mock = await startBelvoMock({ env: { BELVO_MOCK_MFA: 'never' } });
      const receiver = await startWebhookReceiver();
      try {
        const environ = fs.readFileSync(`/proc/${mock.pid}/environ`, 'utf8').split('\0');
        assert.ok(environ.includes('NO_PROXY=corp.example,127.0.0.1,localhost,::1'), environ.filter((e) => /proxy/i.test(e)).join(' '));
        assert.ok(environ.includes('no_proxy=127.0.0.1,localhost,::1'));
        await mock.setWebhook(receiver.url);
        // Global fetch, not the SDK: axios would send this very request to the dead proxy.
        const created = await fetch(`${mock.url}/api/links/`, {
          method: 'POST',
          headers: {
            authorization: `Basic ${Buffer.from(`${mock.secretId}:${mock.secretPassword}`).toString('base64')}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify({ institution: 'inss_br_employment', username: '529.982.247-25', password: 'secret-123' }),
        });
        assert.equal(created.status, 201, await created.text());
        const webhooks = await receiver.waitFor(2, 10_000);
        assert.deepEqual(webhooks.map((w) => w.webhook_type).sort(), ['EMPLOYMENTS', 'OWNERS']);
      } finally {
        await receiver.close();
        await mock.stop();
      }
    },
  );
});

test('startTimeout bounds the wait for a binary that never gets ready', LIMIT, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'belvo-mock-hang-'));
  const script = path.join(dir, 'hangs');
  fs.writeFileSync(script, '#!/bin/sh\necho "pretending to start" >&2\nexec sleep 30\n', { mode: 0o755 });
  try {
    const started = Date.now();
    await assert.rejects(startBelvoMock({ binary: script, startTimeout: 500 }), (error) => {
      assert.match(error.message, /was not ready within 500 ms/);
      assert.match(error.message, /pretending to start/);
      return true;
    });
    assert.ok(Date.now() - started < 5_000);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// A Node script that starts a fake, prints its URL and then ends or is killed, without stop().
const orphanScript = `
  const { startBelvoMock } = require('belvo-mock');
  startBelvoMock().then((m) => {
    process.stdout.write(m.url + '\\n');
    if (process.argv[1] === 'wait') setInterval(() => {}, 1000);
  });
`;

test('the fake does not outlive a Node process that forgot stop()', LIMIT, async () => {
  const { stdout } = await run(process.execPath, ['-e', orphanScript, 'end'], { cwd: project, timeout: 20_000 });
  const url = stdout.trim();
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(await eventuallyDown(url), 'the exit hook killed the fake');
});

test('the fake does not outlive a Node process killed by SIGTERM', LIMIT, async () => {
  const child = spawn(process.execPath, ['-e', orphanScript, 'wait'], { cwd: project, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  try {
    const url = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c) => {
        out += c;
        if (out.includes('\n')) resolve(out.trim());
      });
      child.once('exit', () => reject(new Error(`the script ended early: ${out}`)));
    });
    assert.ok(await isUp(url));
    child.kill('SIGTERM');
    assert.deepEqual(await exited, { code: null, signal: 'SIGTERM' }, 'Node still dies by the signal');
    assert.ok(await eventuallyDown(url), 'the signal hook killed the fake');
  } finally {
    child.kill('SIGKILL');
  }
});

test('startWebhookReceiver: 200 to a JSON POST, 400 otherwise; waitFor times out clearly', LIMIT, async () => {
  const receiver = await startWebhookReceiver();
  try {
    assert.match(receiver.url, /^http:\/\/127\.0\.0\.1:\d+\/webhooks$/);
    const ok = await fetch(receiver.url, { method: 'POST', body: '{"webhook_type":"LINK","webhook_code":"x"}', headers: { 'x-test': '1' } });
    assert.equal(ok.status, 200);
    const bad = await fetch(receiver.url, { method: 'POST', body: 'not json' });
    assert.equal(bad.status, 400);
    assert.equal(receiver.received.length, 1);
    assert.equal(receiver.received[0].headers['x-test'], '1');
    assert.deepEqual(await receiver.waitFor(1), [{ webhook_type: 'LINK', webhook_code: 'x' }]);
    await assert.rejects(receiver.waitFor(2, 200), /1 of 2 webhooks received within 200 ms \(LINK\/x\)/);
  } finally {
    await receiver.close();
  }
});
