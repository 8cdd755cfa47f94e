// The browser the UI tests share: Debian's headless Chromium driven by playwright-core, with
// the flags this closed network needs (no background connections that would be refused).
import { createRequire } from 'node:module';
import path from 'node:path';

// ES modules ignore NODE_PATH: resolve playwright-core from it explicitly.
const require = createRequire(path.join(process.env.NODE_PATH || process.cwd(), 'noop.js'));
const { chromium } = require('playwright-core');

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
