// The dashboard benchmark's browser part (test/bench/dashboard.sh): first
// render of the Agents and Violations pages, bytes downloaded, API call times.
//   node bench_dashboard.js URL ROUNDS AGENTS VIOLATIONS   (the key in EXECLAVE_BENCH_KEY)
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const puppeteer = require('puppeteer-core');

const [url, roundsArg, agents, violations] = process.argv.slice(2);
const rounds = Number(roundsArg);
const KEY = process.env.EXECLAVE_BENCH_KEY;
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'execlave-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: process.env.EXECLAVE_CHROMIUM || '/usr/bin/chromium', headless: true, userDataDir: profile,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
    defaultViewport: { width: 1280, height: 860 },
  });
  const page = await browser.newPage();
  await page.setCacheEnabled(false);
  await page.evaluateOnNewDocument((k) => sessionStorage.setItem('execlave.apiKey', k), KEY);
  // where the time goes, in the page's own clock (from its navigation start):
  // the HTML received, the app's first render (modules loaded and run), the rows on screen
  await page.evaluateOnNewDocument(() => {
    window.__benchMarks = {};
    const mo = new MutationObserver(() => {
      const m = window.__benchMarks;
      if (m.app === undefined && document.querySelector('.layout')) m.app = performance.now();
      if (m.rows === undefined && document.querySelector('table.list tbody tr')) { m.rows = performance.now(); mo.disconnect(); }
    });
    mo.observe(document, { childList: true, subtree: true });
  });
  const cdp = await page.createCDPSession();
  await cdp.send('Network.enable');
  let bytes = 0;
  cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; });

  const marks = {};
  const render = async (hash, sel) => {
    await page.goto('about:blank');
    const t0 = Date.now();
    await page.goto(url + '/' + hash);
    await page.waitForSelector(sel, { visible: true, timeout: 30000 });
    const took = Date.now() - t0;
    const m = await page.evaluate(() => ({ ...window.__benchMarks, html: performance.getEntriesByType('navigation')[0].responseEnd }));
    (marks[hash] = marks[hash] || []).push(m);
    return took;
  };
  const measure = async (hash, sel) => {
    await render(hash, sel);        // warm-up (server caches, plans)
    marks[hash] = [];
    const times = [];
    for (let i = 0; i < rounds; i++) times.push(await render(hash, sel));
    return times;
  };
  const agentsTimes = await measure('#/agents', '#agents-table tbody tr');
  const violationsTimes = await measure('#/violations', '#violations-table tbody tr');
  const split = (hash) => {
    const med = (k) => Math.round(median(marks[hash].map((m) => m[k])));
    return `in the page's clock: HTML ${med('html')} ms, app rendered ${med('app')} ms, rows ${med('rows')} ms`;
  };

  bytes = 0;
  await render('#/agents', '#agents-table tbody tr');
  await new Promise((r) => setTimeout(r, 300));
  const agentsBytes = bytes;
  bytes = 0;
  await render('#/violations', '#violations-table tbody tr');
  await page.waitForSelector('figure.chart canvas', { timeout: 30000 });
  await new Promise((r) => setTimeout(r, 300));
  const violationsBytes = bytes;

  const call = async (fn, args) => {
    const times = [];
    for (let i = 0; i < 20; i++) {
      const t0 = process.hrtime.bigint();
      const r = await fetch(`${url}/rest/rpc/${fn}`, { method: 'POST', headers: { 'X-API-Key': KEY, 'Content-Type': 'application/json' }, body: JSON.stringify(args) });
      await r.text();
      if (!r.ok) throw new Error(`${fn}: HTTP ${r.status}`);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return median(times).toFixed(1);
  };
  const calls = [
    ['dashboard_agents', {}], ['dashboard_agents (search "number 99")', { search: 'number 99' }, 'dashboard_agents'],
    ['dashboard_statuses (50 ids)', null, 'dashboard_statuses'],
    ['dashboard_violations', {}], ['dashboard_violations (mode block, phase ingestion)', { mode: 'block', phase: 'ingestion' }, 'dashboard_violations'],
    ['dashboard_violations_per_hour (24 h)', {}, 'dashboard_violations_per_hour'],
  ];
  const ids = (await (await fetch(`${url}/rest/rpc/dashboard_agents`, { method: 'POST', headers: { 'X-API-Key': KEY, 'Content-Type': 'application/json' }, body: '{}' })).json()).items.map((a) => a.id);
  const lines = [];
  lines.push(`dashboard benchmark: ${Number(agents).toLocaleString('en-US')} agents, ${Number(violations).toLocaleString('en-US')} violations, chromium headless, ${rounds} rounds (median)`);
  lines.push(`A. first render, Agents page:      ${median(agentsTimes)} ms (runs ${agentsTimes.join(', ')}; target <= 300)`);
  lines.push(`   first render, Violations page:  ${median(violationsTimes)} ms (runs ${violationsTimes.join(', ')}; target <= 300)`);
  lines.push(`   Agents page ${split('#/agents')}`);
  lines.push(`   Violations page ${split('#/violations')}`);
  lines.push('   (the rest of each first render is the browser starting the page: about:blank -> the front is a new renderer process)');
  lines.push(`B. downloaded, Agents page:        ${(agentsBytes / 1024).toFixed(1)} KB (target <= 300)`);
  lines.push(`   downloaded, Violations + chart: ${(violationsBytes / 1024).toFixed(1)} KB`);
  lines.push('C. API calls (median of 20, ms):');
  for (const [label, args, fn] of calls) lines.push(`   ${label}: ${await call(fn || label, args || { ids })}`);
  console.log(lines.join('\n'));
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
main().catch((e) => { console.error(e); process.exit(1); });
