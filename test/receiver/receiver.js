// Webhook receiver for execlave's tests (not part of the extension).
//
//   node receiver.js --secrets FILE --log FILE [--port N]
//
// Listens on 127.0.0.1 (port 0: any free port), prints "listening <port>",
// verifies every request with the standardwebhooks library against the secret
// of the endpoint named in its path, and appends one JSON line per request to
// the log: {t, path, name, id, ts, verified, error, status, type, data}.
// The secrets file is a JSON object {name: "whsec_..."}, re-read per request.
//
// The first path segment chooses the answer; the second names the endpoint:
//   /ok/NAME                      204
//   /fail/NAME                    500 always
//   /flaky/NAME?fail=N            500 for the first N attempts of each webhook-id, then 200
//   /gone/NAME                    410
//   /ratelimit/NAME?after=S       first attempt of each webhook-id: 429 with Retry-After: S; then 204
//   /slow/NAME?ms=N               204 after N ms
'use strict';

const http = require('http');
const fs = require('fs');
const { Webhook } = require('standardwebhooks');

const args = {};
for (let i = 2; i < process.argv.length; i += 2)
  args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
if (!args.secrets || !args.log) {
  console.error('usage: node receiver.js --secrets FILE --log FILE [--port N]');
  process.exit(2);
}

const seen = new Map();           // "behaviour/name/webhook-id" -> attempts so far
const logFd = fs.openSync(args.log, 'a');

function secrets() {
  try { return JSON.parse(fs.readFileSync(args.secrets, 'utf8')); } catch (e) { return {}; }
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url, 'http://receiver');
    const [, behaviour = '', name = ''] = url.pathname.split('/');
    const entry = {
      t: Date.now(), path: url.pathname, name, id: req.headers['webhook-id'] || null,
      ts: req.headers['webhook-timestamp'] || null, verified: false, error: null,
      ua: req.headers['user-agent'] || null, ctype: req.headers['content-type'] || null,
    };
    try {
      const secret = secrets()[name];
      if (!secret) throw new Error('no secret for endpoint ' + name);
      const payload = new Webhook(secret).verify(body, req.headers);
      entry.verified = true;
      entry.type = payload.type;
      entry.timestamp = payload.timestamp;
      entry.data = payload.data;
    } catch (e) {
      entry.error = String(e && e.message || e);
    }

    const key = behaviour + '/' + name + '/' + entry.id;
    const attempt = (seen.get(key) || 0) + 1;
    seen.set(key, attempt);

    let status = 204;
    const headers = {};
    let delay = 0;
    if (behaviour === 'fail') status = 500;
    else if (behaviour === 'flaky') status = attempt <= Number(url.searchParams.get('fail') || 1) ? 500 : 200;
    else if (behaviour === 'gone') status = 410;
    else if (behaviour === 'ratelimit' && attempt === 1) {
      status = 429;
      headers['Retry-After'] = url.searchParams.get('after') || '1';
    } else if (behaviour === 'slow') delay = Number(url.searchParams.get('ms') || 1000);
    entry.status = status;
    entry.attempt = attempt;

    setTimeout(() => {
      fs.writeSync(logFd, JSON.stringify(entry) + '\n');
      res.writeHead(status, headers);
      res.end(status >= 400 ? 'error from test receiver' : '');
    }, delay);
  });
});
server.keepAliveTimeout = 30000;
server.listen(Number(args.port || 0), '127.0.0.1', () => {
  console.log('listening ' + server.address().port);
});
