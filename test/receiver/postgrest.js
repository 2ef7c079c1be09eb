'use strict';
// A stand-in for PostgREST (v12) in execlave's tests: it performs, for each
// HTTP request, the SQL protocol PostgREST performs, on a connection of the
// authenticator role, and turns the outcome into an HTTP status and body the
// way PostgREST does.  PostgREST is not packaged for Debian 12; its protocol
// is plain SQL, so this exercises the same code paths in the database:
//
//   BEGIN ISOLATION LEVEL READ COMMITTED [READ ONLY for GET]
//   set_config('role', <anon role>, true)      -- no JWT: the anonymous role
//   set_config('search_path', <schema>, true)
//   set_config('request.method' / 'request.path' / 'request.headers' / 'request.cookies', ..., true)
//   SELECT <schema>.<db-pre-request>()
//   RPC: SELECT <schema>.<fn>("arg" := ...) with the JSON body as named arguments
//        (json_to_record over the body, only the keys it has; an unknown key: 404 PGRST202)
//   GET /<view>: SELECT json_agg(...) FROM <schema>.<view>
//   COMMIT (ROLLBACK on error)
//
// Errors map to statuses with PostgREST's table (docs "Errors"): PGRST with a
// JSON message {code, message, details?, hint?} and a JSON detail {status,
// headers} sets both exactly; PTxyz -> xyz; 42501 -> 401 for the anonymous
// role; 23503/23505 -> 409; 42883/42P01 -> 404; P0001 -> 400; classes 08 and
// 53 -> 503; 25006 -> 405; the server-error classes -> 500; anything else 400.

const { Client } = require('pg');

// PostgreSQL SQLSTATE -> HTTP status, as PostgREST v12 maps it.
function statusOf(code, anonymous) {
  if (/^PT\d{3}$/.test(code)) return parseInt(code.slice(2), 10);
  const exact = { '23503': 409, '23505': 409, '25006': 405, '42883': 404, '42P01': 404,
    '42P17': 500, 'P0001': 400 };
  if (exact[code]) return exact[code];
  if (code === '42501') return anonymous ? 401 : 403;
  const cls = code.slice(0, 2);
  const byClass = { '08': 503, '09': 500, '0L': 403, '0P': 403, '25': 500, '28': 403, '2D': 500,
    '38': 500, '39': 500, '3B': 500, '40': 500, '53': 503, '54': 500, '55': 500, '57': 500,
    '58': 500, 'F0': 500, 'HV': 500, 'P0': 500, 'XX': 500 };
  if (byClass[cls]) return byClass[cls];
  return 400;
}

// The HTTP response of a database error.
function errorResponse(err, anonymous) {
  if (err.code === 'PGRST') {
    let msg, det;
    try { msg = JSON.parse(err.message); } catch (e) { msg = null; }
    try { det = JSON.parse(err.detail); } catch (e) { det = null; }
    const okMsg = msg && typeof msg === 'object' && typeof msg.code === 'string' && typeof msg.message === 'string' &&
      ['details', 'hint'].every((k) => msg[k] === undefined || msg[k] === null || typeof msg[k] === 'string');
    const okDet = det && typeof det === 'object' && Number.isInteger(det.status) &&
      det.headers && typeof det.headers === 'object' &&
      Object.values(det.headers).every((v) => typeof v === 'string');
    if (!okMsg || !okDet) {
      return { status: 500, headers: {}, body: { code: 'PGRST121', message: 'Could not parse JSON in the "RAISE SQLSTATE \'PGRST\'" error',
        details: !okMsg ? `Invalid JSON value for MESSAGE: '${err.message}'` : `Invalid JSON value for DETAIL: '${err.detail}'`, hint: null } };
    }
    return { status: det.status, headers: det.headers,
      body: { code: msg.code, message: msg.message, details: msg.details ?? null, hint: msg.hint ?? null } };
  }
  return { status: statusOf(err.code, anonymous), headers: {},
    body: { code: err.code, message: err.message, details: err.detail ?? null, hint: err.hint ?? null } };
}

const quoteIdent = (s) => '"' + String(s).replace(/"/g, '""') + '"';

class PostgREST {
  // config: {connectionString, schema, anonRole, preRequest}
  constructor(config) {
    this.config = config;
    this.client = new Client({ connectionString: config.connectionString });
    this.procs = null;
  }

  async connect() {
    await this.client.connect();
    await this.loadSchemaCache();
  }

  async end() { await this.client.end(); }

  // Like PostgREST's schema cache: the functions of the schema with their argument names and types.
  async loadSchemaCache() {
    const r = await this.client.query(
      `SELECT p.proname, p.oid, coalesce(p.proargnames, '{}') AS names, p.pronargs, p.pronargdefaults,
              ARRAY(SELECT pg_catalog.format_type(t, NULL) FROM unnest(p.proargtypes) t) AS types
       FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = $1`, [this.config.schema]);
    this.procs = r.rows;
  }

  // The function fn whose argument names cover the body's keys and include every argument without a default.
  findProc(fn, keys) {
    return this.procs.find((p) => {
      if (p.proname !== fn) return false;
      const names = p.names.slice(0, p.pronargs);
      const required = names.slice(0, p.pronargs - p.pronargdefaults);
      return keys.every((k) => names.includes(k)) && required.every((k) => keys.includes(k));
    });
  }

  // One HTTP request: {method, path, headers, body}; returns {status, headers, body}.
  async request({ method, path, headers = {}, body = null }) {
    const c = this.client;
    const lower = {};
    for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v;
    const readOnly = method === 'GET' || method === 'HEAD';
    const rpc = path.match(/^\/rpc\/([A-Za-z_][A-Za-z0-9_]*)$/);
    const view = path.match(/^\/([A-Za-z_][A-Za-z0-9_]*)$/);
    if (rpc && method !== 'POST') return { status: 405, headers: {}, body: { code: 'PGRST101', message: 'Only POST is allowed for this function here', details: null, hint: null } };
    try {
      await c.query(`BEGIN ISOLATION LEVEL READ COMMITTED${readOnly ? ' READ ONLY' : ''}`);
      await c.query(
        `SELECT set_config('search_path', $1, true), set_config('role', $2, true),
                set_config('request.method', $3, true), set_config('request.path', $4, true),
                set_config('request.headers', $5, true), set_config('request.cookies', '{}', true)`,
        [quoteIdent(this.config.schema), this.config.anonRole, method, path, JSON.stringify(lower)]);
      if (this.config.preRequest) await c.query(`SELECT ${this.config.preRequest}()`);
      let result;
      if (rpc) {
        const payload = body === null ? {} : body;
        if (typeof payload !== 'object' || Array.isArray(payload)) {
          throw Object.assign(new Error('the RPC body must be a JSON object'), { pgrst: 400, code: 'PGRST102' });
        }
        const keys = Object.keys(payload);
        const proc = this.findProc(rpc[1], keys);
        if (!proc) {
          throw Object.assign(new Error(`Could not find the function ${this.config.schema}.${rpc[1]}(${keys.sort().join(', ')}) in the schema cache`),
            { pgrst: 404, code: 'PGRST202' });
        }
        const names = proc.names.slice(0, proc.pronargs);
        const cols = keys.map((k) => `${quoteIdent(k)} ${proc.types[names.indexOf(k)]}`);
        const args = keys.map((k) => `${quoteIdent(k)} := pgrst_args.${quoteIdent(k)}`);
        const sql = `SELECT to_jsonb(${quoteIdent(this.config.schema)}.${quoteIdent(rpc[1])}(${args.join(', ')})) AS body
                     FROM ${keys.length ? `json_to_record($1::json) AS pgrst_args(${cols.join(', ')})` : '(SELECT $1::json) AS pgrst_args'}`;
        result = (await c.query(sql, [JSON.stringify(payload)])).rows[0].body;
      } else if (view && readOnly) {
        const sql = `SELECT coalesce(json_agg(pgrst_t), '[]') AS body FROM ${quoteIdent(this.config.schema)}.${quoteIdent(view[1])} pgrst_t`;
        result = (await c.query(sql)).rows[0].body;
      } else {
        throw Object.assign(new Error(`no route for ${method} ${path}`), { pgrst: 404, code: 'PGRST125' });
      }
      await c.query('COMMIT');
      return { status: 200, headers: {}, body: result };
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      if (err.pgrst) return { status: err.pgrst, headers: {}, body: { code: err.code, message: err.message, details: null, hint: null } };
      if (!err.code) throw err;
      return errorResponse(err, true);
    }
  }
}

module.exports = { PostgREST, statusOf, errorResponse };
