#!/usr/bin/env node
// `npx belvo-mock …`: runs the platform binary (or BELVO_MOCK_BINARY) with the same arguments
// and inherited stdio, forwards termination signals to it and exits as it did.
'use strict';

const { spawn } = require('node:child_process');
const { constants } = require('node:os');
const { resolveBinary } = require('../index.js');

let binary;
try {
  binary = resolveBinary();
} catch (error) {
  console.error(error.message);
  process.exit(1);
}

const child = spawn(binary, process.argv.slice(2), { stdio: 'inherit' });

// A process manager (docker stop, CI, a supervisor) signals this wrapper, not the binary: pass
// the signal on so the fake shuts down gracefully. On a terminal's Ctrl-C both get SIGINT; the
// fake ignores the second one, so forwarding is harmless.
const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const forward = (signal) => {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
};
for (const signal of signals) process.on(signal, forward);

child.on('error', (error) => {
  console.error(`belvo-mock: could not run ${binary}: ${error.message}`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  for (const s of signals) process.removeListener(s, forward);
  if (signal) {
    // Die by the same signal so the caller sees what the binary saw; where Node ignores that
    // signal (SIGPIPE), the shell's 128+N convention is the exit code instead.
    process.exitCode = 128 + (constants.signals[signal] || 0);
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code === null ? 1 : code);
});
