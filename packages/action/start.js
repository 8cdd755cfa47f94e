// The GitHub Action's main step: installs belvo-mock (the `wheel` input, or belvo-mock==VERSION
// from PyPI when `version` is given; no default, see action.yml) into a venv under RUNNER_TEMP,
// starts it detached on 127.0.0.1:PORT, saves what stop.js needs (GITHUB_STATE) at once, waits
// for its ready file and `belvo-mock healthcheck`, then exports BELVO_API_URL / BELVO_SECRET_ID /
// BELVO_SECRET_PASSWORD to later steps (GITHUB_ENV) and sets the outputs url, pid, log-file and
// version (GITHUB_OUTPUT). No npm dependencies: the workflow-command files are written directly,
// per GitHub's documented file protocol.
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const READY_TIMEOUT_MS = 60_000;
// Appended to the fake's NO_PROXY / no_proxy: with HTTP_PROXY / HTTPS_PROXY set on the runner, its
// webhooks to a receiver on 127.0.0.1 (and its health check) must not go to the proxy.
const LOOPBACK_NO_PROXY = '127.0.0.1,localhost,::1';
// Runner variables the fake has no use for and should not hold: ACTIONS_* (runtime and cache
// tokens), GITHUB_TOKEN, INPUT_* (the inputs, the password among them), STATE_*.
const WITHHELD_ENV = [/^ACTIONS_/, /^GITHUB_TOKEN$/, /^INPUT_/, /^STATE_/];

// Inputs arrive as INPUT_<NAME> (upper case, spaces → _; hyphens are kept).
function input(name, fallback = '') {
  const value = process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`];
  return value === undefined || value.trim() === '' ? fallback : value.trim();
}

// Appends NAME=value (or NAME<<DELIM … DELIM for a value with a newline) to the file that
// GITHUB_ENV / GITHUB_OUTPUT / GITHUB_STATE names.
function writeCommandFile(variable, name, value) {
  const file = process.env[variable];
  if (!file) {
    console.log(`${variable} is not set (not on a runner?): ${name} not written`);
    return;
  }
  const text = String(value);
  let line;
  if (!text.includes('\n') && !text.includes('\r')) {
    line = `${name}=${text}${os.EOL}`;
  } else {
    const delimiter = `ghadelimiter_${crypto.randomUUID()}`;
    if (text.includes(delimiter)) throw new Error(`${name}: the value contains the delimiter`);
    line = `${name}<<${delimiter}${os.EOL}${text}${os.EOL}${delimiter}${os.EOL}`;
  }
  fs.appendFileSync(file, line, { encoding: 'utf8' });
}

// Splits the `args` input like a POSIX shell would split words: whitespace separates,
// '…' is literal, "…" and bare words honour backslash escapes. No expansion of any kind.
function splitArgs(text) {
  const words = [];
  let word = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new Error(`args: unterminated ' in ${JSON.stringify(text)}`);
      word = (word ?? '') + text.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      word = word ?? '';
      for (i++; ; i++) {
        if (i >= text.length) throw new Error(`args: unterminated " in ${JSON.stringify(text)}`);
        if (text[i] === '"') break;
        if (text[i] === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1])) i++;
        word += text[i];
      }
    } else if (c === '\\' && i + 1 < text.length) {
      word = (word ?? '') + text[++i];
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.error) throw new Error(`${command}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(`${[command, ...args].join(' ')} exited with ${result.status ?? result.signal}`);
  }
  return result;
}

// Whether the job already chose the fixtures: --fixtures / --no-fixtures in `args` (clap rejects
// --no-fixtures beside --fixtures, and a second --no-fixtures), or their variables in the job's
// environment (BELVO_MOCK_FIXTURES conflicts with --no-fixtures too).
function choosesFixtures(args, env) {
  const flag = args.some((a) => /^--(no-)?fixtures(=|$)/.test(a));
  return flag || Boolean(env.BELVO_MOCK_FIXTURES) || Boolean(env.BELVO_MOCK_NO_FIXTURES);
}

// The fake's environment: the job's, without WITHHELD_ENV, with the keys (through the
// environment, not argv, where `ps` would show them) and loopback in NO_PROXY / no_proxy.
function serverEnv(secretId, secretPassword, fixturesInput) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (WITHHELD_ENV.some((pattern) => pattern.test(key))) continue;
    // The `fixtures` input is explicit: the job's fixtures variables would only conflict with it.
    if (fixturesInput && (key === 'BELVO_MOCK_FIXTURES' || key === 'BELVO_MOCK_NO_FIXTURES')) continue;
    env[key] = value;
  }
  env.BELVO_SECRET_ID = secretId;
  env.BELVO_SECRET_PASSWORD = secretPassword;
  for (const key of ['NO_PROXY', 'no_proxy']) {
    env[key] = env[key] ? `${env[key]},${LOOPBACK_NO_PROXY}` : LOOPBACK_NO_PROXY;
  }
  return env;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function readLog(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

async function main() {
  const version = input('version');
  const wheel = input('wheel');
  const portText = input('port', '8000');
  const secretId = input('secret-id', 'sandbox-secret-id');
  const secretPassword = input('secret-password', 'sandbox-secret-password');
  const webhookUrl = input('webhook-url');
  const fixtures = input('fixtures');
  const extraArgs = splitArgs(input('args'));
  const python = input('python', 'python3');

  // Before anything can echo it.
  console.log(`::add-mask::${secretPassword}`);

  if (!/^\d+$/.test(portText) || Number(portText) > 65535) {
    throw new Error(`port must be 0 to 65535, got ${JSON.stringify(portText)}`);
  }
  // belvo-mock is built as Linux wheels only (x86_64 and aarch64): say so, not pip's
  // "no matching distribution".
  if (process.platform !== 'linux') {
    throw new Error(`belvo-mock-action supports Linux runners only (x86_64 and arm64), not ${process.platform}`);
  }
  // No default version: nothing is published on PyPI as belvo-mock yet, and installing an
  // unowned name from PyPI would run whatever someone registered under it.
  if (!wheel && !version) {
    throw new Error('no belvo-mock to install: set `wheel:` to a belvo-mock wheel you built, or ' +
      '`version:` once belvo-mock is on PyPI');
  }

  const base = process.env.RUNNER_TEMP || os.tmpdir();
  fs.mkdirSync(base, { recursive: true });
  const dir = fs.mkdtempSync(path.join(base, 'belvo-mock-'));
  const venv = path.join(dir, 'venv');
  const logFile = path.join(dir, 'belvo-mock.log');
  const readyFile = path.join(dir, 'ready.json');

  console.log(`::group::Install belvo-mock into ${venv}`);
  let spec;
  if (wheel) {
    spec = path.resolve(wheel);
    if (!fs.existsSync(spec)) throw new Error(`wheel not found: ${spec}`);
  } else {
    spec = `belvo-mock==${version}`;
  }
  run(python, ['-m', 'venv', venv]);
  const bin = path.join(venv, 'bin');
  run(path.join(bin, 'python'), ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input',
    '--quiet', spec]);
  const exe = path.join(bin, 'belvo-mock');
  if (!fs.existsSync(exe)) throw new Error(`the install did not provide ${exe}`);
  run(exe, ['--version']);
  console.log('::endgroup::');

  const env = serverEnv(secretId, secretPassword, fixtures);
  // --no-fixtures keeps the repository's own ./fixtures out, unless the job chose otherwise.
  let fixturesArgs = [];
  if (fixtures) fixturesArgs = ['--fixtures', path.resolve(fixtures)];
  else if (!choosesFixtures(extraArgs, env)) fixturesArgs = ['--no-fixtures'];
  const args = ['--addr', `127.0.0.1:${portText}`, '--ready-file', readyFile,
    ...fixturesArgs,
    ...(webhookUrl ? ['--webhook-url', webhookUrl] : []),
    ...extraArgs];
  console.log(`Starting ${exe} ${args.join(' ')} (log: ${logFile})`);
  const log = fs.openSync(logFile, 'a');
  // Detached: its own process group, so it outlives this step and stop.js can signal the group.
  const child = spawn(exe, args, { detached: true, stdio: ['ignore', log, log], env });
  fs.closeSync(log);
  // Saved now, not after the health check: a step cancelled or timed out while waiting still
  // runs the post step, which can then stop the fake. `pid` is the spawned process until the
  // ready file names the server (rewritten below if that differs; the runner keeps the last).
  if (Number.isInteger(child.pid)) {
    writeCommandFile('GITHUB_STATE', 'pid', child.pid);
    writeCommandFile('GITHUB_STATE', 'pgid', child.pid);
    writeCommandFile('GITHUB_STATE', 'log_file', logFile);
  }
  let exited = null;
  child.on('exit', (code, signal) => { exited = signal ? `signal ${signal}` : `exit code ${code}`; });
  child.on('error', (error) => { exited = error.message; });
  // If anything below fails, the server must not be left behind.
  const abandon = () => {
    if (exited === null) {
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  };

  try {
    // 1. The ready file: written (whole, by rename) once the server listens.
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let ready = null;
    while (ready === null) {
      if (exited !== null) throw new Error(`belvo-mock stopped before it was ready (${exited})`);
      if (Date.now() > deadline) throw new Error(`belvo-mock was not ready after ${READY_TIMEOUT_MS / 1000} s`);
      try {
        ready = JSON.parse(fs.readFileSync(readyFile, 'utf8'));
      } catch {
        await sleep(100);
      }
    }
    const url = String(ready.url).replace(/\/+$/, '');
    const pid = Number(ready.pid);
    if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(url) || !Number.isInteger(pid)) {
      throw new Error(`unexpected ready file: ${JSON.stringify(ready)}`);
    }
    // A wrapper script would have started the server as another process: stop.js needs that one.
    if (pid !== child.pid) writeCommandFile('GITHUB_STATE', 'pid', pid);

    // 2. Its own health check, which is what the container image uses too.
    for (;;) {
      if (exited !== null) throw new Error(`belvo-mock stopped (${exited})`);
      // With the fake's env: its NO_PROXY keeps a runner's HTTP_PROXY off this loopback request.
      const check = spawnSync(exe, ['healthcheck', url, '--timeout', '3'], { encoding: 'utf8', env });
      if (check.status === 0) break;
      if (Date.now() > deadline) {
        throw new Error(`belvo-mock healthcheck ${url} kept failing: ${(check.stdout + check.stderr).trim()}`);
      }
      await sleep(200);
    }

    // 3. Hand it to later steps (the post step has its state already).
    writeCommandFile('GITHUB_ENV', 'BELVO_API_URL', url);
    writeCommandFile('GITHUB_ENV', 'BELVO_SECRET_ID', secretId);
    writeCommandFile('GITHUB_ENV', 'BELVO_SECRET_PASSWORD', secretPassword);
    writeCommandFile('GITHUB_OUTPUT', 'url', url);
    writeCommandFile('GITHUB_OUTPUT', 'pid', pid);
    writeCommandFile('GITHUB_OUTPUT', 'log-file', logFile);
    writeCommandFile('GITHUB_OUTPUT', 'version', String(ready.version ?? ''));
    console.log(`belvo-mock ${ready.version} is up at ${url} (pid ${pid}); BELVO_API_URL, BELVO_SECRET_ID and BELVO_SECRET_PASSWORD are set for the next steps`);
  } catch (error) {
    abandon();
    await sleep(200);
    console.log(`::group::belvo-mock log (${logFile})`);
    console.log(readLog(logFile));
    console.log('::endgroup::');
    throw error;
  }
  child.unref();
}

main().catch((error) => {
  console.log(`::error::belvo-mock-action: ${error.message}`);
  process.exit(1);
});
