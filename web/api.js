// The dashboard's only way out: execlave's HTTP API on this origin, with the
// API key the operator pasted at sign-in.  The key lives in sessionStorage
// (this tab only; gone when it closes or on sign-out), never in a URL or a
// cookie.  /rest/rpc/<fn> is PostgREST's surface, /api/... the hosted API.

const KEY = 'execlave.apiKey';

export class ApiError extends Error {
  constructor(status, code, message, hint) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code || '';
    this.hint = hint || '';
  }
}

export function storedKey() {
  return sessionStorage.getItem(KEY);
}
export function storeKey(key) {
  sessionStorage.setItem(KEY, key);
}
export function forgetKey() {
  sessionStorage.removeItem(KEY);
}

// Called when a request is refused with 401 (the key was revoked or expired meanwhile).
let onUnauthorized = () => {};
export function setUnauthorizedHandler(f) {
  onUnauthorized = f;
}

async function send(url, method, body, key) {
  const headers = { Accept: 'application/json', 'X-API-Key': key || storedKey() || '' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let r;
  try {
    r = await fetch(url, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit', cache: 'no-store', redirect: 'error', referrerPolicy: 'no-referrer',
    });
  } catch (e) {
    throw new ApiError(0, 'network', 'The server could not be reached; check that the HTTP front runs.');
  }
  const text = await r.text();
  let j = null;
  try { j = text ? JSON.parse(text) : null; } catch (e) { j = null; }
  return { r, j };
}

// The first page's list is asked for as soon as this module runs (index.html
// loads it first, as an async module with no imports), while the rest of the
// dashboard still loads: the page's own identical call (same function, same
// arguments, within a few seconds) takes that answer instead of asking again.
// The pages build their arguments with these same functions.
export const agentsArgs = (search, status, offset) => ({ search: search || null, status: status || null, limit: 50, offset });
export const NO_VIOLATION_FILTER = { agent: '', policy: '', mode: '', phase: '', since: '', until: '' };
export const violationsArgs = (f, offset) => ({
  agent: f.agent || null, policy: f.policy || null, mode: f.mode || null, phase: f.phase || null,
  since: f.since ? new Date(f.since).toISOString() : null, until: f.until ? new Date(f.until).toISOString() : null,
  limit: 50, offset,
});

const early = new Map();
function prefetch(name, args) {
  if (!storedKey()) return;
  const k = name + ' ' + JSON.stringify(args);
  const answer = send('/rest/rpc/' + encodeURIComponent(name), 'POST', args);
  answer.catch(() => {});   // a failure is reported to the call that takes it
  early.set(k, { at: performance.now(), answer });
}
function takeEarly(name, args) {
  const k = name + ' ' + JSON.stringify(args);
  const e = early.get(k);
  if (!e) return null;
  early.delete(k);
  return performance.now() - e.at < 5000 ? e.answer : null;
}

// POST /rest/rpc/<name>: PostgREST's errors are {code, message, details, hint}.
export async function rpc(name, args = {}, key) {
  const { r, j } = await ((!key && takeEarly(name, args)) || send('/rest/rpc/' + encodeURIComponent(name), 'POST', args, key));
  if (!r.ok) {
    const err = new ApiError(r.status, j && j.code, (j && j.message) || `HTTP ${r.status}`, j && j.hint);
    if (r.status === 401 && !key) onUnauthorized(err);
    throw err;
  }
  return j;
}

// The hosted API: {"success": true, "data"} or {"success": false, "error": {code, message}}.
export async function hosted(method, path, body) {
  const { r, j } = await send('/api' + path, method, body);
  if (!r.ok || !j || j.success === false) {
    const e = (j && j.error) || {};
    const err = new ApiError(r.status, e.sqlstate || e.code, e.message || `HTTP ${r.status}`, e.hint);
    if (r.status === 401) onUnauthorized(err);
    throw err;
  }
  return j.data;
}

try {
  const [page, sub] = (location.hash.replace(/^#\/?/, '') || 'agents').split('/').map(decodeURIComponent);
  if (page === 'agents' && !sub) prefetch('dashboard_agents', agentsArgs('', '', 0));
  else if (page === 'agents') prefetch('dashboard_agent', { agentId: sub });
  else if (page === 'violations') prefetch('dashboard_violations', violationsArgs(NO_VIOLATION_FILTER, 0));
} catch (e) { /* a malformed address: the app shows the Agents page */ }
