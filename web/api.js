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

// POST /rest/rpc/<name>: PostgREST's errors are {code, message, details, hint}.
export async function rpc(name, args = {}, key) {
  const { r, j } = await send('/rest/rpc/' + encodeURIComponent(name), 'POST', args, key);
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
