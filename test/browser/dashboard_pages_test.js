// More of the dashboard in a real browser: Debian's chromium, headless,
// driven by puppeteer-core, against the real front (nginx + PostgREST) of a
// throwaway cluster that test/t/026_dashboard_pages.pl started.  Prints TAP
// lines.
//
//   node dashboard_pages_test.js URL PGCONN      (the admin key in EXECLAVE_ADMIN_KEY)
//
// The cluster holds (from the .pl): the admin key ops, the agents page-001 ..
// page-120 and viol-bot, the policies recent-pii (pii_detection, log),
// old-models (model_allowlist, flag) and "refunds need a human" (tool_access,
// require_approval), all for viol-bot; 3 violations of old-models 3 hours ago
// (pre_execution) and 2 of recent-pii 20 minutes ago (ingestion); one webhook.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const puppeteer = require('puppeteer-core');
const { Client } = require('pg');

const [url, pgconn] = process.argv.slice(2);
const ADMIN = process.env.EXECLAVE_ADMIN_KEY;

const { ok, sleep, until, finish, abort } = require('./tap');
const { pageHelpers } = require('./page');

let profile = null;
let browser = null;

async function main() {
  const db = new Client({ connectionString: pgconn });
  await db.connect();
  const q = async (sql, args) => (await db.query(sql, args)).rows;
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'execlave-chromium-'));
  browser = await puppeteer.launch({
    executablePath: process.env.EXECLAVE_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    userDataDir: profile,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-dev-shm-usage', '--window-size=1280,860'],
    defaultViewport: { width: 1280, height: 860 },
  });
  const problems = [];
  const page = await browser.newPage();
  await page.emulateTimezone('UTC');
  // the invalid configs the test sends are refused with 400, the unknown policy with 404; anything else is a problem
  page.on('console', (m) => {
    if ((m.type() === 'error' && !/^Failed to load resource: the server responded with a status of (400|404)/.test(m.text()))
        || /Content Security Policy/.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push('pageerror: ' + e.message));
  const requests = [];
  page.on('request', (r) => { if (r.url().includes('/rest/rpc/')) requests.push({ fn: r.url().replace(/.*\/rest\/rpc\//, ''), body: r.postData() }); });

  const { text, visible, clickButton, type, axeViolations } = pageHelpers(page);
  // a datetime-local field set as the operator's picker would (Preact listens to input)
  const setDate = (sel, value) => page.$eval(sel, (e, v) => { e.value = v; e.dispatchEvent(new Event('input', { bubbles: true })); }, value);
  const axe = async (name) => {
    const r = await axeViolations();
    ok(r.length === 0, `axe-core: no serious accessibility violations on the ${name}`, r.join('\n'));
  };
  const go = async (hash) => { await page.evaluate((h) => { location.hash = h; }, hash); await sleep(100); };
  const rowKeys = () => page.$$eval('#agents-table tbody tr', (r) => r.map((x) => x.dataset.agent));
  const pagerText = (scope = 'main') => page.$eval(`${scope} .pager-count`, (e) => e.textContent);

  // ---- sign in
  await page.goto(url + '/', { waitUntil: 'networkidle0' });
  await visible('#api-key');
  await type('#api-key', ADMIN);
  await clickButton('Sign in');
  ok(await visible('#agents-table'), 'signed in: the Agents page shows');

  // ---- the first list is asked for once, while the modules load
  requests.length = 0;
  await page.reload({ waitUntil: 'networkidle0' });
  await visible('#agents-table tbody tr');
  const agentCalls = requests.filter((r) => r.fn === 'dashboard_agents');
  ok(agentCalls.length === 1, `a fresh load asks for the first page of agents once (${agentCalls.length})`, requests);
  ok(!requests.some((r) => r.fn === 'dashboard_approvals') || requests.findIndex((r) => r.fn === 'dashboard_agents') < requests.findIndex((r) => r.fn === 'dashboard_approvals'),
    'the list is asked for before the pending count', requests);
  ok(await page.evaluate(() => !performance.getEntriesByType('resource').some((e) => /\/(policies|approvals)\.js$/.test(e.name))),
    'the Policies and Approvals modules are not loaded for the Agents page');

  // ---- Agents: Next and Previous page on the server
  const all = (await q("SELECT key FROM execlave.agents ORDER BY key")).map((r) => r.key);
  ok(await until(async () => (await rowKeys()).join() === all.slice(0, 50).join()), 'the first page: the first 50 agents by key');
  ok(/^1–50 of 121$/.test(await pagerText()), 'the pager says 1–50 of 121', await pagerText());
  ok(await page.$eval('.pager button', (b) => b.disabled), 'Previous is disabled on the first page');
  await clickButton('Next');
  ok(await until(async () => (await rowKeys()).join() === all.slice(50, 100).join()), 'Next: agents 51 to 100');
  ok(/^51–100 of 121$/.test(await pagerText()), 'the pager says 51–100 of 121', await pagerText());
  await clickButton('Next');
  ok(await until(async () => (await rowKeys()).join() === all.slice(100).join()), 'Next again: the last 21');
  ok(await page.evaluate(() => [...document.querySelectorAll('.pager button')].find((b) => b.textContent === 'Next').disabled), 'Next is disabled on the last page');
  await clickButton('Previous');
  ok(await until(async () => (await rowKeys()).join() === all.slice(50, 100).join()), 'Previous: agents 51 to 100 again');
  await type('#agent-search', 'page-11');
  ok(await until(async () => (await rowKeys()).join() === all.filter((k) => k.includes('page-11')).join() && /^1–10 of 10$/.test(await pagerText())),
    'a search starts again at the first page');
  await type('#agent-search', '');

  // ---- agent page tabs: axe-core on each not checked elsewhere
  await go('#/agents/viol-bot');
  await visible('#tab-overview');
  ok(/recent-pii/.test(await text('main')), 'the agent page shows the policies that apply');
  await axe('agent Overview tab');
  await page.click('#tab-history');
  await until(async () => /Status history/.test(await text('main')));
  await axe('agent History tab');
  await page.click('#tab-traces');
  ok(await until(async () => /No traces yet/.test(await text('main'))), 'the Traces tab: its empty state says what to do');
  await axe('agent Traces tab');
  await page.click('#tab-violations');
  ok(await until(async () => (await page.$$('#violations-table tbody tr')).length === 5), 'the Violations tab lists the agent\'s violations');
  await axe('agent Violations tab');
  await page.click('#tab-grants');
  await visible('#grant-target');
  await axe('agent Grants tab');

  // ---- Violations: time, policy, mode and phase filters (each checked against the database)
  await go('#/violations');
  const vrows = () => page.$$eval('#violations-table tbody tr', (r) => r.map((x) => x.children[1].textContent + '/' + x.children[3].textContent + '/' + x.children[5].textContent));
  ok(await until(async () => (await vrows()).length === 5), 'the Violations page lists all five');
  const iso = (d) => d.toISOString().slice(0, 16);
  const now = Date.now();
  await setDate('#vf-since', iso(new Date(now - 60 * 60 * 1000)));
  await clickButton('Apply filters');
  ok(await until(async () => (await vrows()).join() === 'recent-pii/log/ingestion,recent-pii/log/ingestion'), 'Since an hour ago: the two recent ones');
  await setDate('#vf-since', '');
  await setDate('#vf-until', iso(new Date(now - 60 * 60 * 1000)));
  await clickButton('Apply filters');
  ok(await until(async () => (await vrows()).join() === Array(3).fill('old-models/flag/pre_execution').join()), 'Until an hour ago: the three old ones');
  await setDate('#vf-since', iso(new Date(now - 3 * 60 * 60 * 1000 - 7 * 60 * 1000)));
  await clickButton('Apply filters');
  ok(await until(async () => (await vrows()).length === 2), 'Since and Until together: a window (two of the old ones)');
  await setDate('#vf-since', '');
  await setDate('#vf-until', '');
  await type('#vf-policy', 'recent-pii');
  await clickButton('Apply filters');
  ok(await until(async () => (await vrows()).join() === 'recent-pii/log/ingestion,recent-pii/log/ingestion'), 'the policy filter (by name)');
  await type('#vf-policy', '');
  await page.select('#vf-phase', 'pre_execution');
  await clickButton('Apply filters');
  ok(await until(async () => (await vrows()).length === 3 && (await vrows()).every((r) => r.endsWith('/pre_execution'))), 'the phase filter');
  await page.select('#vf-phase', '');
  await page.select('#vf-mode', 'flag');
  await clickButton('Apply filters');
  ok(await until(async () => (await vrows()).length === 3 && (await vrows()).every((r) => r.includes('/flag/'))), 'the mode filter');
  await page.select('#vf-mode', 'block');
  await clickButton('Apply filters');
  ok(await until(async () => /No violations match/.test(await text('main'))), 'a filter nothing matches: the empty state');
  await page.select('#vf-mode', '');
  await type('#vf-policy', 'no-such-policy');
  await clickButton('Apply filters');
  ok(await until(async () => /policy "no-such-policy" does not exist/.test(await text('main'))), 'an unknown policy: the server\'s message');
  await type('#vf-policy', '');
  await clickButton('Apply filters');
  ok(await until(async () => (await vrows()).length === 5), 'cleared filters: all five again');
  ok(await until(async () => !!(await page.$('figure.chart canvas'))), 'the per-hour chart renders');

  // ---- Policies: the form of every type; an invalid config shows the server's message at its field
  await go('#/policies');
  await visible('#new-policy');
  await axe('Policies page (the list)');
  const cases = [
    { type: 'pii_detection', field: 'types', bad: 'dna', good: 'email\nphone', check: (c) => c.types.join() === 'email,phone', msg: /unknown PII type "dna"/ },
    { type: 'model_allowlist', field: 'allow', bad: 'm'.repeat(201), good: 'gpt-4o*', check: (c) => c.allow.join() === 'gpt-4o*', msg: /key "allow" element 1 must be 1 to 200 bytes long/ },
    { type: 'token_limit', field: 'max_total_tokens', bad: '-3', good: '8000', check: (c) => c.max_total_tokens === 8000, msg: /key "max_total_tokens" must not be negative/ },
    { type: 'tool_access', field: 'deny', bad: 't'.repeat(201), good: 'shell', check: (c) => c.deny.join() === 'shell', msg: /key "deny" element 1 must be 1 to 200 bytes long/ },
    { type: 'rate_limit', field: 'max_requests_per_minute', bad: '0', good: '60', check: (c) => c.max_requests_per_minute === 60, msg: /key "max_requests_per_minute" must be a whole number/ },
    { type: 'cost_limit', field: 'max_cost_per_day', bad: '-1', good: '2.5', check: (c) => c.max_cost_per_day === 2.5, msg: /key "max_cost_per_day" must not be negative/ },
    { type: 'budget_cap', field: 'max_cost_per_month', bad: 'lots', good: '100', check: (c) => c.max_cost_per_month === 100, msg: /key "max_cost_per_month" must be a number/ },
  ];
  for (const c of cases) {
    const name = `form-${c.type}`;
    await page.click('#new-policy');
    await visible('#pf-name');
    await type('#pf-name', name);
    await page.select('#pf-type', c.type);
    await visible(`#pf-${c.field}`);
    await type(`#pf-${c.field}`, c.bad);
    await clickButton('Create policy');
    const shown = await visible(`#pf-${c.field}-error`);
    const msg = shown ? await text(`#pf-${c.field}-error`) : await text('main');
    ok(shown && c.msg.test(msg) && msg.startsWith(`invalid ${c.type} policy config`), `${c.type}: an invalid ${c.field} shows the server's message at the field`, msg);
    ok(await page.$eval(`#pf-${c.field}`, (e) => e.getAttribute('aria-invalid')) === 'true', `${c.type}: the field is marked invalid`);
    ok((await q('SELECT count(*)::int AS n FROM execlave.policies WHERE name = $1', [name]))[0].n === 0, `${c.type}: nothing was written`);
    await type(`#pf-${c.field}`, '');
    if (c.good.includes('\n')) {
      await page.focus(`#pf-${c.field}`);
      for (const [i, line] of c.good.split('\n').entries()) { if (i) await page.keyboard.press('Enter'); await page.keyboard.type(line); }
    } else await type(`#pf-${c.field}`, c.good);
    await clickButton('Create policy');
    const row = await until(async () => (await q('SELECT type, config FROM execlave.policies WHERE name = $1', [name]))[0]);
    ok(row && row.type === c.type && c.check(row.config), `${c.type}: a valid one is created with its config`, row);
    ok(await until(async () => !!(await page.$(`tr[data-policy="${name}"]`)) && !(await page.$('#policy-form'))), `${c.type}: it is listed and the form closes`);
  }

  // ---- straight from one page loaded on first use to the other, and back
  await go('#/approvals');
  ok(await until(async () => !!(await page.$('#h-approvals')) && !(await page.$('#h-policies'))), 'Policies -> Approvals shows the Approvals page');
  await go('#/policies');
  ok(await until(async () => !!(await page.$('#h-policies')) && !(await page.$('#h-approvals'))), 'and back shows the Policies page');

  // ---- Webhooks: disable (confirmed) and enable
  await go('#/webhooks');
  await visible('#webhooks-table');
  const hook = (await q('SELECT id FROM execlave.webhooks'))[0].id;
  await clickButton('Disable', `tr[data-webhook="${hook}"]`);
  ok(await visible('dialog[open] #confirm-ok'), 'Disable asks first');
  ok(/No more deliveries go to https:\/\/hooks\.example\.com\/in/.test(await text('dialog[open]')), 'and says what will happen');
  await page.click('#confirm-cancel');
  await sleep(200);
  ok((await q('SELECT active FROM execlave.webhooks WHERE id = $1', [hook]))[0].active === true, 'Cancel disables nothing');
  await clickButton('Disable', `tr[data-webhook="${hook}"]`);
  await visible('dialog[open] #confirm-ok');
  await page.click('#confirm-ok');
  ok(await until(async () => (await q('SELECT active FROM execlave.webhooks WHERE id = $1', [hook]))[0].active === false), 'Disable (confirmed): the endpoint is disabled');
  ok(await until(async () => /disabled in the dashboard/.test(await text(`tr[data-webhook="${hook}"]`))), 'the row says disabled, and why');
  await clickButton('Enable', `tr[data-webhook="${hook}"]`);
  ok(await until(async () => (await q('SELECT active FROM execlave.webhooks WHERE id = $1', [hook]))[0].active === true), 'Enable: the endpoint is enabled again');
  ok(await until(async () => /^active/.test(await page.$eval(`tr[data-webhook="${hook}"] td:nth-child(3)`, (e) => e.textContent))), 'the row says active');

  // ---- Approvals: paged on the server, refreshed by itself, a decided request stays in place
  const ask = async (input) => (await q(`SELECT execlave_enforce('viol-bot', $1, NULL, 1, ARRAY['refund_order'], NULL) AS r`, [input]))[0].r.approval_request_id;
  for (let i = 1; i <= 55; i++) await ask(`refund ${i}`);
  const ids = (await q("SELECT id FROM execlave.approvals WHERE status = 'pending' ORDER BY requested_at DESC, id")).map((r) => r.id);
  await go('#/approvals');
  const arows = () => page.$$eval('#approvals-table tbody tr', (r) => r.map((x) => x.dataset.approval));
  ok(await until(async () => (await arows()).join() === ids.slice(0, 50).join() && /^1–50 of 55$/.test(await pagerText())), 'Approvals: the newest 50 of 55, paged on the server');
  await clickButton('Next');
  ok(await until(async () => (await arows()).join() === ids.slice(50).join() && /^51–55 of 55$/.test(await pagerText())), 'Next: the other 5');
  await clickButton('Previous');
  ok(await until(async () => (await arows()).join() === ids.slice(0, 50).join()), 'Previous: the first 50 again');
  ok(requests.some((r) => r.fn === 'dashboard_approvals' && JSON.parse(r.body).offset === 50), 'the page asked the server for offset 50');
  const fresh = await ask('refund 56');
  let t0 = Date.now();
  ok(await until(async () => (await arows())[0] === fresh, 6000, 50), `a request opened meanwhile shows without Refresh (${Date.now() - t0} ms)`);
  await page.click(`tr[data-approval="${fresh}"] .deny`);
  await visible('dialog[open] #confirm-reason');
  await page.type('#confirm-reason', 'not today');
  await page.click('#confirm-ok');
  ok(await until(async () => (await page.$eval(`tr[data-approval="${fresh}"]`, (e) => e.dataset.status)) === 'denied'), 'Deny: the row says denied');
  await sleep(2600);   // past a refresh of the pending list
  ok(await page.$(`tr[data-approval="${fresh}"][data-status="denied"]`) && (await arows())[0] === fresh,
    'after a refresh the request decided here is still in place, denied');
  await q("SELECT execlave_approve($1, 'elsewhere')", [ids[1]]);
  ok(await until(async () => !(await arows()).includes(ids[1]), 6000), 'a request decided elsewhere leaves the pending list by itself');
  await axe('Approvals page (paged)');

  ok(problems.length === 0, 'no console error, no CSP violation', problems.join('\n'));
  await browser.close();
  await db.end();
  fs.rmSync(profile, { recursive: true, force: true });
  finish();
}

main().catch(async (e) => {
  abort(e);
  if (browser) await browser.close().catch(() => {});
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
  process.exit(1);
});
