// TAP output and polling shared by the browser tests (their TAP files relay
// every "ok N - name" line as one of their own tests).
'use strict';

let n = 0;
let failed = 0;

// One step: "ok N - name", or "not ok N - name" and extra as "# " lines.
function ok(cond, name, extra) {
  n++;
  if (!cond) failed++;
  console.log(`${cond ? '' : 'not '}ok ${n} - ${name}`);
  if (!cond && extra !== undefined) console.log('# ' + String(typeof extra === 'string' ? extra : JSON.stringify(extra)).split('\n').join('\n# '));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Poll f (an error counts as false) every step ms for up to ms; its first
// true value, or null.
async function until(f, ms = 10000, step = 50) {
  const end = Date.now() + ms;
  for (;;) {
    try { const v = await f(); if (v) return v; } catch (e) { /* retry */ }
    if (Date.now() > end) return null;
    await sleep(step);
  }
}

// The plan, then exit 0 only if every step passed.
function finish() {
  console.log(`1..${n}`);
  process.exit(failed ? 1 : 0);
}

// An exception that stopped the test: one more failed step with its stack.
function abort(e) {
  console.log(`not ok ${n + 1} - the browser test ran to the end`);
  console.log('# ' + String(e && e.stack || e).split('\n').join('\n# '));
}

module.exports = { ok, sleep, until, finish, abort };
