// belvo-mock's Node helper (CommonJS; index.mjs re-exports it for ESM): finds the platform
// binary, starts the fake on a free loopback port for a test, drives its /_mock control plane,
// and offers a tiny webhook receiver. No dependencies: child_process, fs, http and global fetch.
'use strict';

const childProcess = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const DEFAULT_SECRET_ID = 'sandbox-secret-id';
const DEFAULT_SECRET_PASSWORD = 'sandbox-secret-password';
// How much of the child's stdout/stderr is kept for error messages (the tail is what explains a
// failed start-up: clap's usage error, a bad fixtures file, a port in use).
const OUTPUT_TAIL_BYTES = 16 * 1024;
const READY_POLL_MS = 20;
const STOP_KILL_AFTER_MS = 5000;

/**
 * The path of the belvo-mock executable: BELVO_MOCK_BINARY when set, else the binary of the
 * platform package npm installed through optionalDependencies (esbuild's and biome's layout).
 */
function resolveBinary() {
  const override = process.env.BELVO_MOCK_BINARY;
  if (override) {
    if (!isExecutableFile(override)) {
      throw new Error(
        `belvo-mock: BELVO_MOCK_BINARY is set to ${JSON.stringify(override)}, which is not an ` +
          'executable file',
      );
    }
    return override;
  }
  const pkg = `@belvo-mock/cli-${process.platform}-${process.arch}`;
  const exe = process.platform === 'win32' ? 'belvo-mock.exe' : 'belvo-mock';
  let found;
  try {
    found = require.resolve(`${pkg}/bin/${exe}`);
  } catch (error) {
    throw new Error(
      `belvo-mock: no binary for this platform (${process.platform}-${process.arch}): the ` +
        `optional dependency ${pkg} is not installed. It is skipped when npm runs with ` +
        '--omit=optional / --no-optional, or when no package exists for this platform. ' +
        'Reinstall without those flags, or set BELVO_MOCK_BINARY to the path of a belvo-mock ' +
        `executable (cargo build -p mock-server gives target/debug/belvo-mock). (${error.code || error.message})`,
    );
  }
  if (!isExecutableFile(found)) {
    // npm does not keep the mode of files in tarballs packed on some systems; say so plainly
    // rather than letting spawn fail with a bare EACCES.
    throw new Error(
      `belvo-mock: ${found} (from ${pkg}) is not executable; chmod +x it, or set ` +
        'BELVO_MOCK_BINARY to a belvo-mock executable',
    );
  }
  return found;
}

function isExecutableFile(file) {
  try {
    if (!fs.statSync(file).isFile()) return false;
    if (process.platform !== 'win32') fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// Children still running, killed when this Node process goes away so a forgotten stop() (or a
// test runner killing a test file) never leaves a fake listening behind.
const liveChildren = new Set();
const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function killAllNow() {
  for (const entry of liveChildren) {
    try {
      entry.child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
    removeDir(entry.dir);
  }
  liveChildren.clear();
}

function onSignal(signal) {
  killAllNow();
  uninstallHooks();
  // With our listener gone and nobody else listening, re-raising gives Node's default
  // behaviour (die by that signal); an app with its own handler keeps control instead.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

let hooksInstalled = false;
function installHooks() {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllNow);
  for (const signal of FORWARDED_SIGNALS) process.on(signal, onSignal);
}
function uninstallHooks() {
  if (!hooksInstalled) return;
  hooksInstalled = false;
  process.removeListener('exit', killAllNow);
  for (const signal of FORWARDED_SIGNALS) process.removeListener(signal, onSignal);
}

function removeDir(dir) {
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch {
    // A leftover empty temp dir is harmless.
  }
}

// Appended to NO_PROXY / no_proxy of the child: the fake's own loopback traffic (webhooks to a
// receiver on 127.0.0.1, like startWebhookReceiver's) must not go to a proxy from HTTP_PROXY /
// HTTPS_PROXY, which cannot reach this machine's loopback.
const LOOPBACK_NO_PROXY = '127.0.0.1,localhost,::1';

/** The child's environment: the caller's, minus anything that could point the fake at the
 * user's real keys or data (BELVO_SECRET_* is read by the binary, BELVO_MOCK_* sets any flag),
 * plus options.env, which is explicit and therefore kept, plus the key pair's password (through
 * the environment: on the command line `ps` would show it) and loopback in NO_PROXY/no_proxy. */
function childEnv(extra, secretPassword) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('BELVO_SECRET_') || key.startsWith('BELVO_MOCK_')) continue;
    env[key] = value;
  }
  Object.assign(env, extra || {});
  // Last, so options.env cannot make the fake accept another password than the handle's.
  env.BELVO_SECRET_PASSWORD = secretPassword;
  for (const key of ['NO_PROXY', 'no_proxy']) {
    env[key] = env[key] ? `${env[key]},${LOOPBACK_NO_PROXY}` : LOOPBACK_NO_PROXY;
  }
  return env;
}

function tailCollector() {
  let buffer = Buffer.alloc(0);
  return {
    push(chunk) {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length > OUTPUT_TAIL_BYTES) buffer = buffer.subarray(buffer.length - OUTPUT_TAIL_BYTES);
    },
    text() {
      return buffer.toString('utf8').trim();
    },
  };
}

function describeOutput(stdout, stderr) {
  const parts = [];
  if (stderr.text()) parts.push(`stderr:\n${stderr.text()}`);
  if (stdout.text()) parts.push(`stdout:\n${stdout.text()}`);
  return parts.length ? `\n${parts.join('\n')}` : ' (no output)';
}

// Whether the caller already chose the fixtures: --fixtures / --no-fixtures in args, or their
// variables in options.env (clap rejects --no-fixtures beside BELVO_MOCK_FIXTURES, and a second
// --no-fixtures). The caller's own BELVO_MOCK_* never reach the child, so only options.env counts.
function choosesFixtures(args, env) {
  const flag = args.some(
    (a) => a === '--fixtures' || a.startsWith('--fixtures=') || a === '--no-fixtures' || a.startsWith('--no-fixtures='),
  );
  const variable = ['BELVO_MOCK_FIXTURES', 'BELVO_MOCK_NO_FIXTURES'].some((key) => env && env[key]);
  return flag || Boolean(variable);
}

function checkSecret(name, value) {
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(`belvo-mock: options.${name} must be a non-empty string`);
  }
}

/**
 * Start a fake (or attach to a running one with options.url) and return its handle.
 * @param {import('./index').StartOptions} [options]
 * @returns {Promise<import('./index').BelvoMock>}
 */
async function startBelvoMock(options = {}) {
  const secretId = options.secretId === undefined ? DEFAULT_SECRET_ID : options.secretId;
  const secretPassword =
    options.secretPassword === undefined ? DEFAULT_SECRET_PASSWORD : options.secretPassword;
  checkSecret('secretId', secretId);
  checkSecret('secretPassword', secretPassword);

  if (options.url !== undefined && options.url !== null) {
    const url = String(options.url).replace(/\/+$/, '');
    // Fail here, with the URL in the message, rather than in the first test request.
    await checkHealth(url);
    return makeHandle({ url, pid: null, secretId, secretPassword, stopProcess: async () => {} });
  }

  const args = options.args === undefined ? [] : options.args;
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
    throw new TypeError('belvo-mock: options.args must be an array of strings');
  }
  const webhookDelay = options.webhookDelay === undefined ? 0 : options.webhookDelay;
  if (typeof webhookDelay !== 'number' || !(webhookDelay >= 0)) {
    throw new TypeError('belvo-mock: options.webhookDelay must be a number of seconds, 0 or more');
  }
  const startTimeout = options.startTimeout === undefined ? 10000 : options.startTimeout;
  if (typeof startTimeout !== 'number' || !(startTimeout > 0)) {
    throw new TypeError('belvo-mock: options.startTimeout must be a number of milliseconds, more than 0');
  }
  const binary = options.binary || resolveBinary();

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'belvo-mock-'));
  const readyFile = path.join(dir, 'ready.json');
  const argv = [
    '--addr', '127.0.0.1:0',
    '--ready-file', readyFile,
    '--secret-id', secretId, // the password goes by environment (see childEnv)
    '--webhook-delay', String(webhookDelay),
    '--log-level', 'warn',
  ];
  // --no-fixtures keeps the app's own ./fixtures folder out, unless args or options.env choose.
  if (!choosesFixtures(args, options.env)) argv.push('--no-fixtures');
  argv.push(...args);

  const stdout = tailCollector();
  const stderr = tailCollector();
  const child = childProcess.spawn(binary, argv, {
    env: childEnv(options.env, secretPassword),
    stdio: ['ignore', 'pipe', 'pipe'],
    windowsHide: true,
  });
  const entry = { child, dir };
  liveChildren.add(entry);
  installHooks();
  // The pipes are always drained (a full pipe would block the fake's logging) and, like the
  // child, do not keep Node alive: a test file that forgets stop() still ends, and the exit hook
  // kills the fake then.
  child.stdout.on('data', (c) => stdout.push(c));
  child.stderr.on('data', (c) => stderr.push(c));
  child.stdout.unref?.();
  child.stderr.unref?.();
  child.unref();

  let exited = null; // {code, signal} once the child is gone
  const exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      liveChildren.delete(entry);
      if (liveChildren.size === 0) uninstallHooks();
      resolve(exited);
    });
  });
  let spawnError = null;
  child.once('error', (error) => {
    spawnError = error;
    liveChildren.delete(entry);
    if (liveChildren.size === 0) uninstallHooks();
  });

  let ready;
  try {
    ready = await waitForReady({ readyFile, startTimeout, child, getExit: () => exited, getSpawnError: () => spawnError, binary, stdout, stderr });
  } catch (error) {
    child.kill('SIGKILL');
    removeDir(dir);
    throw error;
  }

  let stopping = null;
  const stopProcess = () => {
    if (!stopping) {
      stopping = (async () => {
        if (!exited && !spawnError) {
          // While stopping, the child keeps Node alive so `await stop()` really waits for it.
          child.ref();
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), STOP_KILL_AFTER_MS);
          await exitPromise;
          clearTimeout(timer);
        }
        removeDir(dir);
      })();
    }
    return stopping;
  };
  // The server's own pid, from its ready file: child.pid, unless a wrapper started it as another process.
  const pid = Number.isInteger(ready.pid) ? ready.pid : child.pid;
  return makeHandle({ url: ready.url, pid, secretId, secretPassword, stopProcess });
}

async function waitForReady({ readyFile, startTimeout, getExit, getSpawnError, binary, stdout, stderr }) {
  const deadline = Date.now() + startTimeout;
  for (;;) {
    const spawnError = getSpawnError();
    if (spawnError) {
      throw new Error(`belvo-mock: could not run ${binary}: ${spawnError.message}`);
    }
    // The binary writes a temporary file and renames it into place, so a file that exists is
    // whole: no partial JSON to guard against.
    let text = null;
    try {
      text = fs.readFileSync(readyFile, 'utf8');
    } catch (error) {
      if (error.code !== 'ENOENT') throw error;
    }
    if (text !== null) {
      let ready;
      try {
        ready = JSON.parse(text);
      } catch {
        throw new Error(`belvo-mock: the ready file ${readyFile} is not JSON: ${text}`);
      }
      if (typeof ready.url !== 'string') {
        throw new Error(`belvo-mock: the ready file ${readyFile} has no url: ${text}`);
      }
      return ready;
    }
    const exit = getExit();
    if (exit) {
      // Let the last output arrive before quoting it.
      await new Promise((r) => setTimeout(r, 50));
      const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
      throw new Error(`belvo-mock: ${binary} ${how} before it was ready${describeOutput(stdout, stderr)}`);
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `belvo-mock: ${binary} was not ready within ${startTimeout} ms (no ready file)` +
          describeOutput(stdout, stderr),
      );
    }
    await new Promise((r) => setTimeout(r, READY_POLL_MS));
  }
}

async function checkHealth(url) {
  let response;
  try {
    response = await fetch(`${url}/_mock/health`);
  } catch (error) {
    throw new Error(`belvo-mock: no fake answers at ${url} (GET /_mock/health: ${error.cause?.message || error.message})`);
  }
  if (response.status !== 200) {
    const body = await response.text();
    throw new Error(`belvo-mock: GET ${url}/_mock/health answered ${response.status}: ${body}`);
  }
}

function makeHandle({ url, pid, secretId, secretPassword, stopProcess }) {
  const authorization = `Basic ${Buffer.from(`${secretId}:${secretPassword}`).toString('base64')}`;

  // One control-plane call; a non-2xx answer becomes an Error carrying status and body.
  async function request(method, pathOrUrl, body) {
    const target = pathOrUrl.startsWith('http') ? pathOrUrl : `${url}${pathOrUrl}`;
    const headers = { authorization, accept: 'application/json' };
    const init = { method, headers };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(target, init);
    } catch (error) {
      throw new Error(`belvo-mock: ${method} ${target} failed: ${error.cause?.message || error.message}`);
    }
    const text = await response.text();
    if (!response.ok) {
      const error = new Error(`belvo-mock: ${method} ${target} answered ${response.status}: ${text}`);
      error.status = response.status;
      error.body = text;
      throw error;
    }
    return text === '' ? undefined : JSON.parse(text);
  }

  return {
    url,
    pid,
    secretId,
    secretPassword,
    // The variables the official SDKs and most apps read (belvo-python reads exactly these).
    env: { BELVO_API_URL: url, BELVO_SECRET_ID: secretId, BELVO_SECRET_PASSWORD: secretPassword },
    async reset() {
      await request('POST', '/_mock/reset');
    },
    advanceClock(seconds) {
      if (typeof seconds !== 'number' || !Number.isFinite(seconds)) {
        return Promise.reject(new TypeError('belvo-mock: advanceClock(seconds) needs a finite number'));
      }
      return request('POST', '/_mock/clock/advance', { seconds });
    },
    setWebhook(webhookUrl, webhookAuthorization = null) {
      return request('PUT', '/_mock/webhook', { url: webhookUrl, authorization: webhookAuthorization });
    },
    flush() {
      return request('POST', '/_mock/webhooks/flush');
    },
    async deliveries() {
      // Follow `next` (absolute, as Belvo's) so more than one page of deliveries is not cut.
      const results = [];
      let next = '/_mock/webhooks?page_size=1000';
      while (next) {
        const page = await request('GET', next);
        results.push(...page.results);
        next = page.next;
      }
      return results;
    },
    widgetToken(options = {}) {
      // What the SDKs send (`id`/`password` in the body), plus `link_id` for update mode and
      // any other field of the token request (`widget`, `stale_in`, `fetch_resources`, …).
      const { link, scopes = 'read_institutions,write_links', ...rest } = options;
      const body = { id: secretId, password: secretPassword, scopes, ...rest };
      if (link !== undefined) body.link_id = link;
      return request('POST', '/api/token/', body);
    },
    stop: stopProcess,
  };
}

/**
 * An HTTP server on 127.0.0.1 (a free port) that records every webhook POSTed to it.
 * @param {import('./index').WebhookReceiverOptions} [options]
 * @returns {Promise<import('./index').WebhookReceiver>}
 */
function startWebhookReceiver(options = {}) {
  const port = options.port === undefined ? 0 : options.port;
  const received = [];
  const waiters = new Set();

  const notify = () => {
    for (const waiter of waiters) waiter();
  };

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST') {
        res.writeHead(405, { 'content-type': 'application/json', allow: 'POST' });
        res.end(JSON.stringify({ error: 'webhooks are POSTed' }));
        return;
      }
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'the body is not JSON' }));
        return;
      }
      received.push({ headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
      notify();
    });
  });
  // Like the fake's child process, the receiver does not keep Node alive on its own.
  server.unref();

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.removeListener('error', reject);
      const { port: bound } = server.address();
      resolve({
        url: `http://127.0.0.1:${bound}/webhooks`,
        received,
        waitFor(count, timeoutMs = 5000) {
          return new Promise((resolveWait, rejectWait) => {
            const check = () => {
              if (received.length < count) return false;
              cleanup();
              resolveWait(received.slice(0, count).map((r) => r.body));
              return true;
            };
            const timer = setTimeout(() => {
              cleanup();
              const got = received.map((r) => `${r.body.webhook_type}/${r.body.webhook_code}`);
              rejectWait(
                new Error(
                  `belvo-mock: ${received.length} of ${count} webhooks received within ${timeoutMs} ms ` +
                    `(${got.join(', ') || 'none'}); is setWebhook() pointing here, and the webhook delay short?`,
                ),
              );
            }, timeoutMs);
            const cleanup = () => {
              clearTimeout(timer);
              waiters.delete(check);
            };
            // The timer keeps Node alive while someone waits (the server itself does not).
            if (!check()) waiters.add(check);
          });
        },
        close() {
          return new Promise((resolveClose) => {
            // The fake keeps connections alive; close them, or server.close() waits for them.
            server.close(() => resolveClose());
            server.closeAllConnections?.();
          });
        },
      });
    });
  });
}

module.exports = { startBelvoMock, startWebhookReceiver, resolveBinary };
