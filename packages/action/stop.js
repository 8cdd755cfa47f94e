// The GitHub Action's post step (runs at the job's end, also after failures): SIGTERMs the
// belvo-mock that start.js started (pid and process group from STATE_pid / STATE_pgid), waits up
// to 10 s for its graceful exit (SIGKILL after that), and prints the tail of its log. It never
// fails the job: a server that is already gone, or never started, is only reported.
'use strict';

const fs = require('node:fs');

const GRACE_MS = 10_000;
const TAIL_LINES = 50;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A zombie (exited, not yet reaped by whoever adopted it) counts as gone.
function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if (error.code !== 'EPERM') return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /s.test(stat);
  } catch {
    return !fs.existsSync('/proc/self');
  }
}

// Guards against a recycled pid: on Linux the process must still be a belvo-mock.
function isBelvoMock(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('belvo-mock');
  } catch (error) {
    return error.code !== 'ENOENT' || !fs.existsSync('/proc/self');
  }
}

function signal(target, name) {
  try {
    process.kill(target, name);
    return true;
  } catch {
    return false;
  }
}

function printTail(logFile) {
  if (!logFile) return;
  let text;
  try {
    text = fs.readFileSync(logFile, 'utf8');
  } catch (error) {
    console.log(`no log at ${logFile} (${error.code})`);
    return;
  }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  console.log(`::group::belvo-mock log, last ${Math.min(TAIL_LINES, lines.length)} of ${lines.length} lines (${logFile})`);
  console.log(lines.slice(-TAIL_LINES).join('\n'));
  console.log('::endgroup::');
}

async function main() {
  const pid = Number(process.env.STATE_pid);
  const pgid = Number(process.env.STATE_pgid);
  const logFile = process.env.STATE_log_file || '';
  if (!Number.isInteger(pid) || pid <= 1) {
    console.log('belvo-mock was not started by this job (no pid in the state): nothing to stop');
    printTail(logFile);
    return;
  }
  if (!alive(pid) || !isBelvoMock(pid)) {
    console.log(`belvo-mock (pid ${pid}) is already gone`);
    printTail(logFile);
    return;
  }
  console.log(`Stopping belvo-mock (pid ${pid}) with SIGTERM`);
  signal(pid, 'SIGTERM');
  // The group holds a wrapper, if the installed script is one; it gets the signal too.
  if (Number.isInteger(pgid) && pgid > 1 && pgid !== pid && alive(pgid) && isBelvoMock(pgid)) {
    signal(-pgid, 'SIGTERM');
  }
  const deadline = Date.now() + GRACE_MS;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  if (alive(pid)) {
    console.log(`::warning::belvo-mock (pid ${pid}) was still running ${GRACE_MS / 1000} s after SIGTERM: killed`);
    signal(pid, 'SIGKILL');
    if (Number.isInteger(pgid) && pgid > 1) signal(-pgid, 'SIGKILL');
  } else {
    console.log(`belvo-mock stopped after ${((GRACE_MS - (deadline - Date.now())) / 1000).toFixed(1)} s`);
  }
  printTail(logFile);
}

main().catch((error) => {
  // The post step reports, it does not fail the job.
  console.log(`::warning::belvo-mock-action post step: ${error.message}`);
}).finally(() => process.exit(0));
