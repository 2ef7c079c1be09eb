'use strict';
// Load through execlave's HTTP front for TAP 020: four clients submitting
// trace batches over POST /api/v1/traces/ingest, each on its own kept-alive
// connection.
//
//   node http_load.js killswitch <base> <admin key> <agent key> <agent uuid> <superuser conn>
//       the kill switch under load: after some traces are in, PATCH .../pause
//       through the front; prints TAP: nothing sent after the pause's 200 is
//       accepted, status-poll says paused at once, every batch whole or absent
//   node http_load.js traffic <base> <key> <agent key> <log file> <stop file> [seconds]
//       submit until the stop file exists (at most [seconds], default 60),
//       one JSON line per request in the log file: {c, seq, sent, recv, status,
//       ids, code, hosted}; prints "started" once the first batch is answered

const fs = require('fs');
const { performance } = require('perf_hooks');
const { HttpClient, traceId, isHostedError } = require('./http_client');

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One client: batches of `size` traces for agent `agentKey` until stop() is true.
async function client(c, http, agentKey, size, stop, log, label = 'load') {
  let seq = 0;
  while (!stop()) {
    const ids = Array.from({ length: size }, traceId);
    const traces = ids.map((id) => ({ traceId: id, agentId: agentKey, input: `${label} ${c}/${seq}`, output: 'ok',
      durationMs: 5, status: 'success', modelName: 'gpt-4o', totalTokens: 10, costUsd: 0.0001 }));
    const sent = now();
    let status = 0;
    let json;
    try {
      const r = await http.ingest(traces);
      status = r.status;
      json = r.json;
    } catch (e) {
      json = { network: String(e.cause?.code ?? e.message) };
    }
    log({ c, seq, sent, recv: now(), status, ids, code: json?.error?.code ?? json?.network,
      hosted: status >= 200 && status < 300 ? json?.success === true : isHostedError(json),
      accepted: json?.data?.accepted ?? 0, refused: (json?.data?.errors ?? []).map((e) => e.index) });
    seq++;
  }
}

async function killswitch(base, adminKey, agentKey, agentUuid, superConn) {
  const { Client } = require('pg');
  let n = 0;
  let failed = 0;
  const ok = (cond, name, diag) => {
    n++;
    if (!cond) failed++;
    console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${name}`);
    if (!cond && diag !== undefined) console.log('# ' + JSON.stringify(diag).slice(0, 3000));
  };
  const admin = new HttpClient(base, adminKey, { prefix: '/api', auth: 'x-api-key' });
  const reqs = [];
  let accepted = 0;
  let stopAt = Infinity;
  const clients = [0, 1, 2, 3].map((c) => client(c, new HttpClient(base, agentKey), 'load-agent', 5, () => now() > stopAt,
    (rec) => { reqs.push(rec); accepted += rec.accepted; }));
  const deadline = now() + 30000;
  while (accepted < 200 && now() < deadline) await sleep(10);
  const pauseSent = now();
  const p = await admin.pause(agentUuid, 'kill switch under load');
  const pauseOk = now();
  const poll = await new HttpClient(base, agentKey).statusPoll(agentUuid);
  stopAt = now() + 1000;                 // go on submitting for a second after the pause
  await Promise.all(clients);

  ok(p.status === 200 && p.json?.data?.status === 'paused', `the pause through the front answered 200 (${accepted} traces accepted before)`, p.text);
  ok(poll.status === 200 && poll.json?.data?.status === 'paused', 'status-poll right after the pause\'s 200 says paused', poll.text);
  const after = reqs.filter((r) => r.sent > pauseOk);
  const during = reqs.filter((r) => r.sent <= pauseOk && r.recv >= pauseSent);
  ok(after.length >= 8, `the four clients went on submitting after the pause (${after.length} batches)`);
  ok(after.every((r) => r.status === 423 && r.code === 'traces_refused' && r.accepted === 0),
    'every batch sent after the pause\'s 200 was refused with 423', after.filter((r) => r.status !== 423).slice(0, 5));

  const db = new Client({ connectionString: superConn });
  await db.connect();
  const ids = reqs.flatMap((r) => r.ids);
  const stored = new Set((await db.query(`SELECT trace_id FROM execlave.traces WHERE trace_id = ANY ($1)`, [ids])).rows.map((r) => r.trace_id));
  ok(after.every((r) => r.ids.every((id) => !stored.has(id))), 'none of their traces is stored');
  // each answer says which traces it accepted: exactly those are stored (a
  // batch in flight while the pause commits may be split: each trace is
  // checked by its own statement)
  const wrong = reqs.filter((r) => r.ids.some((id, i) => stored.has(id) !== (r.status >= 200 && r.status < 300 && !r.refused.includes(i))));
  ok(wrong.length === 0, `exactly the traces the answers accepted are stored (${reqs.length} batches, ${during.length} in flight during the pause)`, wrong.slice(0, 3));
  ok(reqs.filter((r) => r.sent < pauseSent && r.recv < pauseSent).every((r) => r.status === 200),
    'every batch answered before the pause was sent was accepted whole');
  const last = (await db.query(`SELECT max(ingested_at) AS t FROM execlave.traces t JOIN execlave.agents a ON a.id = t.agent_id
                                WHERE a.key = 'load-agent'`)).rows[0].t;
  const pausedAt = (await db.query(`SELECT paused_at FROM execlave.agents WHERE key = 'load-agent'`)).rows[0].paused_at;
  ok(last !== null && pausedAt !== null, 'the agent\'s traces and its pause are recorded');
  await db.end();
  console.log(`1..${n}`);
  process.exit(failed ? 1 : 0);
}

async function traffic(base, key, agentKey, logFile, stopFile, seconds) {
  const out = fs.openSync(logFile, 'a');
  const limit = now() + (Number(seconds) || 60) * 1000;
  let started = false;
  const stop = () => now() > limit || fs.existsSync(stopFile);
  await Promise.all([0, 1, 2, 3].map((c) => client(c, new HttpClient(base, key), agentKey, 10, stop, (rec) => {
    fs.writeSync(out, JSON.stringify(rec) + '\n');
    if (!started && rec.status === 200) { started = true; console.log('started'); }
  }, 'traffic')));
  fs.closeSync(out);
  console.log('stopped');
}

const [mode, ...args] = process.argv.slice(2);
(mode === 'killswitch' ? killswitch(...args) : traffic(...args))
  .catch((e) => { console.log(`not ok 99 - unexpected error: ${e.stack}`); process.exit(1); });
