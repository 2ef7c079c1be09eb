'use strict';
// A client of execlave's HTTP front (nginx + PostgREST) for the tests,
// written from the contract the hosted product's SDKs follow (README "HTTP
// API"): paths under /api/v1 (or /api), the key as "Authorization: Bearer"
// (or X-API-Key), Content-Type: application/json on every request, JSON
// answers {"success": true, "data": ...} / {"success": false, "error": {code,
// message}}.  Node's fetch (undici) keeps connections alive.

class HttpClient {
  // base: http://127.0.0.1:PORT; key: an API key; opts: {prefix ('/api/v1'), auth ('bearer' | 'x-api-key')}
  constructor(base, key, opts = {}) {
    this.base = base;
    this.key = key;
    this.prefix = opts.prefix ?? '/api/v1';
    this.auth = opts.auth ?? 'bearer';
  }

  headers(extra = {}) {
    const h = { 'Content-Type': 'application/json' };
    if (this.key !== undefined && this.key !== null) {
      if (this.auth === 'bearer') h.Authorization = `Bearer ${this.key}`;
      else h['X-API-Key'] = this.key;
    }
    return { ...h, ...extra };
  }

  // One request.  body: an object (sent as JSON), a string (sent as is) or
  // undefined.  Returns {status, headers, text, json} (json: undefined if the
  // answer is not JSON).
  async raw(method, path, body, extraHeaders = {}, headersOverride = null) {
    const init = { method, headers: headersOverride ?? this.headers(extraHeaders) };
    if (body !== undefined) init.body = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const res = await fetch(this.base + path, init);
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch (e) { json = undefined; }
    return { status: res.status, headers: res.headers, text, json };
  }

  api(method, path, body, extraHeaders) { return this.raw(method, this.prefix + path, body, extraHeaders); }

  // The SDKs' core calls
  health() { return this.raw('GET', '/health'); }
  registerAgent(agent) { return this.api('POST', '/agents', agent); }
  searchAgents(search) { return this.api('GET', `/agents?search=${encodeURIComponent(search)}`); }
  statusPoll(uuid) { return this.api('GET', `/agents/${encodeURIComponent(uuid)}/status-poll`); }
  heartbeat(uuid) { return this.api('POST', `/agents/${encodeURIComponent(uuid)}/heartbeat`, { lastPolicyCheckAt: null }); }
  ingest(traces) { return this.api('POST', '/traces/ingest', { traces }); }
  enforce(req) { return this.api('POST', '/policies/enforce', req); }
  authorize(caller, callee, action) {
    return this.api('POST', '/agents/authorize', { callerAgentId: caller, calleeAgentId: callee, action });
  }

  // The product page's calls (X-API-Key, /api)
  pause(id, reason) { return this.raw('PATCH', `/api/agents/${id}/pause`, { reason }, {}, this.pageHeaders()); }
  resume(id) { return this.raw('PATCH', `/api/agents/${id}/resume`, undefined, {}, { 'X-API-Key': this.key }); }
  pageHeaders() { return { 'X-API-Key': this.key, 'Content-Type': 'application/json' }; }
}

// A trace id as the SDKs make them: tr_ + 16 hex digits.
function traceId() {
  return 'tr_' + require('crypto').randomBytes(8).toString('hex');
}

// Is body a hosted error answer {success: false, error: {code, message}}?
function isHostedError(json) {
  return json !== undefined && json !== null && json.success === false && json.error !== null &&
    typeof json.error === 'object' && typeof json.error.code === 'string' && typeof json.error.message === 'string';
}

module.exports = { HttpClient, traceId, isHostedError };
