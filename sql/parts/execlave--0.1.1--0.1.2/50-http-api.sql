
-------------------------------------------------------------------------------
-- The HTTP API (schema execlave_api)
-------------------------------------------------------------------------------
-- 0.1.2 changes here, for the real PostgREST 12 behind nginx (scripts/http.sh):
--
-- 1. Every execlave_api function runs with search_path = pg_catalog, pg_temp
--    (the SECURITY DEFINER ones had the extension's schema on their path, a
--    schema others may be able to write) and calls only execlave.* (the
--    implementations), execlave_api.* and pg_catalog.* functions.
-- 2. An API function that answers an error status but whose operation keeps
--    records (a blocked pre-execution check keeps its violations and their
--    deliveries; a refused trace in a batch keeps the batch's other traces)
--    returns its body and sets PostgREST's response.status instead of
--    raising, so that the request's transaction commits.  Errors that keep
--    nothing (bad input, a wrong key) may still raise.
-- 3. The hosted API: nginx sends every /api, /api/v1 and /health request to
--    execlave_api.dispatch(text) with the raw body, the method and the raw
--    request URI (headers X-Execlave-Method, X-Execlave-Uri); the route
--    table is execlave_api.routes().  Answers have the hosted shapes
--    {"success": true, "data": ...} and {"success": false, "error": {code,
--    message}}.
-- 4. Agent keys learn nothing about other agents: authorize answers an
--    agent key "not_authorized" for every denial that concerns another agent.

-- The HTTP status of an execlave error; EX010 / EX011 and the retryable
-- failures (serialization, deadlock, timeouts) are added.
CREATE OR REPLACE FUNCTION execlave_api.http_status(sqlstate text) RETURNS integer
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN CASE
        WHEN sqlstate = 'EX001' THEN 423                       -- agent paused
        WHEN sqlstate = 'EX003' THEN 403                       -- blocked by a policy
        WHEN sqlstate IN ('EX002', 'EX005', 'EX006', 'EX007', 'EX008', 'EX009') THEN 404
        WHEN sqlstate = 'EX004' THEN 409                       -- agent archived
        WHEN sqlstate = 'EX012' THEN 404                       -- no such approval request
        WHEN sqlstate = 'EX013' THEN 409                       -- approval request already decided
        WHEN sqlstate = 'EX014' THEN 410                       -- approval request expired
        WHEN sqlstate = 'EX010' THEN 401                       -- not authenticated
        WHEN sqlstate = 'EX011' THEN 403                       -- authorization denied
        WHEN sqlstate IN ('23505', '23503', '55000') THEN 409  -- conflict
        WHEN sqlstate = '42501' THEN 403
        WHEN sqlstate LIKE '22%' OR sqlstate IN ('23502', '23514', '42804', '42883', 'P0001') THEN 400
        WHEN sqlstate IN ('53400', '53300', '40001', '40P01', '57014', '55P03') THEN 503
        ELSE 500
    END;
END
$$;

-- An agent as the /rest/ functions show it (PL/pgSQL now: a SQL function
-- with a SET clause is planned again at every call).
CREATE OR REPLACE FUNCTION execlave_api.agent_json(agent uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('id', a.id, 'key', a.key, 'name', a.name, 'status', a.status,
        'pauseReason', a.pause_reason, 'pausedAt', a.paused_at, 'pausedBy', a.paused_by,
        'statusChangedAt', a.status_changed_at, 'createdAt', a.created_at)
    FROM execlave.agents a WHERE a.id = agent);
END
$$;

-- The API key check, shared by pre_request (the /rest/ surface) and the
-- hosted dispatcher: NULL when the key is good (and the caller is then set
-- for the transaction), else why it is refused.
CREATE FUNCTION execlave_api.authenticate(key text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    env text;
    secret text;
    well_formed boolean;
    k execlave.api_keys;
    ok boolean;
BEGIN
    IF key IS NULL OR key = '' THEN
        RETURN 'missing API key';
    END IF;
    -- ag_<1-16 of [a-z0-9]>_<32-128 of [A-Za-z0-9]> (checked without a
    -- bounded repetition, which costs PostgreSQL's regex engine ~0.2 ms a key)
    env := split_part(key, '_', 2);
    secret := split_part(key, '_', 3);
    well_formed := key ~ '^ag_[a-z0-9]+_[A-Za-z0-9]+$' AND length(env) <= 16 AND length(secret) BETWEEN 32 AND 128;
    IF well_formed THEN
        SELECT * INTO k FROM execlave.api_keys x WHERE x.key_prefix = 'ag_' || env || '_' || left(secret, 8);
    END IF;
    -- the digest comparison runs whether or not a key was found (constant time)
    ok := execlave.api_key_matches(k.key_hash, key);
    IF NOT ok OR NOT well_formed THEN
        RETURN 'invalid API key';
    ELSIF k.revoked_at IS NOT NULL THEN
        RETURN 'API key revoked';
    ELSIF k.expires_at <= now() THEN
        RETURN 'API key expired';
    END IF;
    PERFORM set_config('execlave.api_key_id', k.id::text, true);
    PERFORM set_config('execlave.api_scope', k.scope, true);
    PERFORM set_config('execlave.api_agent_id', coalesce(k.agent_id::text, ''), true);
    PERFORM set_config('execlave.api_actor', 'api:' || k.name, true);
    -- last use, to the minute: no write on most requests, none in read-only ones
    IF (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute')
       AND current_setting('transaction_read_only') = 'off' THEN
        UPDATE execlave.api_keys x SET last_used_at = now()
        WHERE x.id = k.id AND (x.last_used_at IS NULL OR x.last_used_at < now() - interval '1 minute');
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.authenticate(text) IS 'Internal: check an API key (exists, not revoked, not expired; constant-time hash comparison) and set the request''s caller; NULL when it is good, else the reason';

-- The C dispatcher's key check (src/http_dispatch.c) reads the key's row by
-- its display prefix (no row: all NULL) and writes its last use, to the
-- minute, through these two: the same statements as authenticate's.
CREATE FUNCTION execlave_api.key_by_prefix(prefix text, OUT key_id text, OUT stored bytea, OUT is_revoked boolean,
    OUT is_expired boolean, OUT key_scope text, OUT key_agent text, OUT key_actor text, OUT is_stale boolean)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    SELECT x.id::text, x.key_hash, x.revoked_at IS NOT NULL, coalesce(x.expires_at <= now(), false), x.scope,
           coalesce(x.agent_id::text, ''), 'api:' || x.name,
           x.last_used_at IS NULL OR x.last_used_at < now() - interval '1 minute'
    INTO key_id, stored, is_revoked, is_expired, key_scope, key_agent, key_actor, is_stale
    FROM execlave.api_keys x WHERE x.key_prefix = prefix;
END
$$;
COMMENT ON FUNCTION execlave_api.key_by_prefix(text) IS 'Internal: an API key''s row by its display prefix, for the C dispatcher''s key check (execlave_api.authenticate''s)';

CREATE FUNCTION execlave_api.key_used(key_id uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE execlave.api_keys x SET last_used_at = now()
    WHERE x.id = key_id AND (x.last_used_at IS NULL OR x.last_used_at < now() - interval '1 minute');
END
$$;
COMMENT ON FUNCTION execlave_api.key_used(uuid) IS 'Internal: an API key''s last use, to the minute (execlave_api.authenticate''s write)';

-- PostgREST's db-pre-request: authenticate the X-API-Key header (nginx moves
-- a bearer key there).  The hosted dispatcher authenticates by itself, so
-- that its refusals have the hosted shape.
CREATE OR REPLACE FUNCTION execlave_api.pre_request() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    failure text;
BEGIN
    IF current_setting('request.path', true) = '/rpc/dispatch' THEN
        RETURN;
    END IF;
    failure := execlave_api.authenticate(nullif(current_setting('request.headers', true), '')::json ->> 'x-api-key');
    IF failure IS NOT NULL THEN
        PERFORM execlave_api.fail(401, 'EX010', failure, NULL,
            CASE WHEN failure = 'missing API key' THEN 'Send the key in the X-API-Key header.' END,
            '{"WWW-Authenticate": "ApiKey header=\"X-API-Key\""}');
    END IF;
END
$$;

-- authorize as an API caller may see it: an agent key learns nothing about
-- other agents, so every denial but its own pause or archival reads
-- not_authorized, without a grant.
CREATE FUNCTION execlave_api.authorize_decision(source text, target text, action text,
    OUT authorized boolean, OUT reason text, OUT grant_id uuid, OUT expires_at timestamptz)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    SELECT e.authorized, e.reason, e.grant_id, e.expires_at INTO authorized, reason, grant_id, expires_at
    FROM execlave.authorize_explain(source, target, action) e;
    IF NOT authorized AND execlave_api.caller_scope() = 'agent'
       AND reason NOT IN ('source_paused', 'source_archived') THEN
        reason := 'not_authorized';
        grant_id := NULL;
        expires_at := NULL;
    END IF;
END
$$;
COMMENT ON FUNCTION execlave_api.authorize_decision(text, text, text) IS 'Internal: execlave.authorize_explain for the request''s caller; an agent key gets reason not_authorized for every denial that concerns another agent';

-------------------------------------------------------------------------------
-- The PostgREST surface (/rest/rpc/...): pinned search_path, the
-- implementations in execlave, and nothing lost on an error status
-------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION execlave_api.pause_agent("agentId" text, reason text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    changed boolean;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    changed := execlave.pause_agent("agentId", reason);
    RETURN jsonb_build_object('agent', execlave_api.agent_json(execlave.resolve_agent("agentId")), 'changed', changed);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION execlave_api.resume_agent("agentId" text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    changed boolean;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    changed := execlave.resume_agent("agentId");
    RETURN jsonb_build_object('agent', execlave_api.agent_json(execlave.resolve_agent("agentId")), 'changed', changed);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION execlave_api.register_agent(key text, name text DEFAULT NULL, description text DEFAULT NULL,
                                                       tags text[] DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    id uuid;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    id := execlave.register_agent(key, name, description, coalesce(tags, '{}'), coalesce(metadata, '{}'));
    RETURN execlave_api.agent_json(id);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION execlave_api.create_grant("agentId" text, "targetAgentId" text, "allowedActions" text[],
                                                     "expiresAt" timestamptz DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    gid uuid;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    gid := execlave.create_grant("agentId", "targetAgentId", "allowedActions", "expiresAt");
    RETURN (SELECT jsonb_build_object('grantId', g.id, 'sourceAgentId', g.source_id, 'targetAgentId', g.target_id,
                'allowedActions', to_jsonb(g.actions), 'expiresAt', g.expires_at, 'createdAt', g.created_at,
                'createdBy', g.created_by)
            FROM execlave.grants g WHERE g.id = gid);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;

-- A denial asked to be an error (raiseOnDeny) answers 403 with the PGRST
-- error body {code, message, details, hint} but commits: what the request
-- wrote (the key's last use) is kept.
CREATE OR REPLACE FUNCTION execlave_api.authorize("sourceAgentId" text, "targetAgentId" text, action text,
                                                  "raiseOnDeny" boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
    answer jsonb;
    st text; msg text; det text; hnt text;
BEGIN
    IF execlave_api.caller_scope() = 'agent' THEN
        PERFORM execlave_api.own_agent("sourceAgentId", 'authorize as source');
    ELSE
        PERFORM execlave_api.require_admin();
    END IF;
    SELECT * INTO r FROM execlave_api.authorize_decision("sourceAgentId", "targetAgentId", action);
    answer := jsonb_build_object('authorized', r.authorized, 'reason', r.reason,
        'grant', CASE WHEN r.grant_id IS NULL THEN NULL
                      ELSE jsonb_build_object('id', r.grant_id, 'expiresAt', r.expires_at) END);
    IF NOT r.authorized AND coalesce("raiseOnDeny", false) THEN
        PERFORM set_config('response.status', '403', true);
        RETURN jsonb_build_object('code', 'EX011',
            'message', format('agent "%s" may not %s agent "%s"', "sourceAgentId", action, "targetAgentId"),
            'details', answer::text, 'hint', 'reason: ' || r.reason);
    END IF;
    RETURN answer;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.authorize(text, text, text, boolean) IS 'HTTP: may the source agent perform the action on the target? {authorized, reason, grant}; raiseOnDeny: 403 instead of authorized false. Admin keys, or the source agent''s own key (which gets reason not_authorized for every denial that concerns another agent)';

CREATE OR REPLACE FUNCTION execlave_api.create_webhook(url text, events text[] DEFAULT NULL, secret text DEFAULT NULL,
                                                       description text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    w record;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    SET LOCAL client_min_messages = error;      -- the worker warning is for SQL users
    SELECT * INTO w FROM execlave.create_webhook(url, events, secret, description);
    RETURN (SELECT jsonb_build_object('id', x.id, 'url', x.url, 'events', coalesce(to_jsonb(x.events), '["*"]'),
                'secret', w.signing_secret, 'active', x.active, 'createdAt', x.created_at)
            FROM execlave.webhooks x WHERE x.id = w.id);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION execlave_api.create_policy(name text, type text, mode text, config jsonb DEFAULT '{}',
                                                      "agentIds" text[] DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    pid uuid;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    pid := execlave.create_policy(name, type, mode, coalesce(config, '{}'), "agentIds");
    RETURN (SELECT jsonb_build_object('id', p.id, 'name', p.name, 'type', p.type, 'mode', p.mode, 'config', p.config,
                'agentIds', to_jsonb(p.agent_ids), 'active', p.active, 'createdAt', p.created_at)
            FROM execlave.policies p WHERE p.id = pid);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;

-- A blocked check answers 403 (a paused agent 423) with the PGRST error body
-- {code, message, details, hint} as before, but returns it instead of raising:
-- the violations it recorded and their policy.violated deliveries commit.
-- A require_approval policy answers 202 {allowed: false, requiresApproval,
-- approvalRequestId}, committed with the pending request (70-approvals.sql).
CREATE OR REPLACE FUNCTION execlave_api.enforce("agentId" text, input text, model text DEFAULT NULL,
                                                "estimatedCost" numeric DEFAULT NULL, tools text[] DEFAULT NULL,
                                                metadata jsonb DEFAULT NULL, environment text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r jsonb;
    answer jsonb;
    sys text;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.own_agent("agentId", 'run a pre-execution check');
    r := execlave.enforce("agentId", input, model, "estimatedCost", tools,
                          CASE WHEN environment IS NULL THEN metadata
                               ELSE coalesce(metadata, '{}') || jsonb_build_object('environment', environment) END);
    answer := jsonb_build_object('allowed', r->'allowed',
        'violations', coalesce((SELECT jsonb_agg(jsonb_build_object('policyId', v->'policy_id', 'policyName', v->'policy_name',
                                   'type', v->'type', 'message', v->'message', 'mode', v->'mode', 'details', v->'details'))
                                FROM jsonb_array_elements(r->'violations') v), '[]'),
        'warnings', r->'warnings');
    IF (r->>'allowed')::boolean THEN
        IF (r->>'approval_consumed')::boolean THEN
            answer := answer || jsonb_build_object('approvalConsumed', true, 'approvalRequestId', r->'approval_request_id');
        END IF;
        RETURN answer;
    END IF;
    IF (r->>'requires_approval')::boolean THEN
        PERFORM set_config('response.status', '202', true);
        RETURN answer || jsonb_build_object('requiresApproval', true, 'approvalRequestId', r->'approval_request_id',
                                            'approvalExpiresAt', r->'approval_expires_at');
    END IF;
    SELECT v->>'message' INTO sys FROM jsonb_array_elements(r->'violations') v WHERE v->>'type' = 'system' LIMIT 1;
    IF sys IS NOT NULL
       AND (SELECT a.status FROM execlave.agents a WHERE a.id = execlave.resolve_agent("agentId")) = 'paused' THEN
        PERFORM set_config('response.status', '423', true);
        RETURN jsonb_build_object('code', 'EX001', 'message', sys, 'details', answer::text,
                                  'hint', 'Resume the agent to let its requests through.');
    END IF;
    PERFORM set_config('response.status', '403', true);
    RETURN jsonb_build_object('code', 'EX003', 'message', 'request blocked by policy', 'details', answer::text, 'hint', NULL);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.enforce(text, text, text, numeric, text[], jsonb, text) IS 'HTTP: pre-execution check. 200 {allowed, violations, warnings}; 202 with requiresApproval and approvalRequestId when a require_approval policy fired; 403 when blocked and 423 when the agent is paused (the answer in details), committed with what it recorded. Admin keys, or the agent''s own key';

-- Does every trace of a batch have only the fields of "known" below (C, src/http_dispatch.c)?
CREATE FUNCTION execlave_api.trace_fields_known(traces jsonb) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'execlave_trace_fields_known';
COMMENT ON FUNCTION execlave_api.trace_fields_known(jsonb) IS 'Internal: is every element of the batch an object of known trace fields only (execlave_api.ingest_traces)?';
REVOKE ALL ON FUNCTION execlave_api.trace_fields_known(jsonb) FROM PUBLIC;

-- Batch ingestion.  The usual batch (every trace an object of known fields
-- naming an agent the key may act for) is inserted by one statement, so
-- that a batch costs about what the same rows cost in SQL; if that
-- statement is refused, the batch goes trace by trace in subtransactions
-- (as in 0.1.0), each refused trace failing alone; a field set to null is
-- absent (its default applies) in both.  A trace the first
-- attempt found blocked by a policy is not inserted again: its violation
-- is recorded already (by the recorder) and must not be recorded twice.
CREATE OR REPLACE FUNCTION execlave_api.ingest_traces(traces jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    scope text := execlave_api.caller_scope();
    own uuid := execlave.api_caller_agent();
    own_key text;
    n integer;
    fast boolean := false;
    ids text[];
    blocked jsonb := '{}';
    t jsonb;
    i integer := 0;
    ok integer := 0;
    errors jsonb := '[]';
    row_trace jsonb;
    k text;
    col text;
    tid text;
    known constant jsonb := '{"traceId": "trace_id", "agentId": "agent_key", "sessionId": "session_id",
        "userId": "user_id", "timestamp": "started_at", "startedAt": "started_at", "durationMs": "duration_ms",
        "duration": "duration_ms", "status": "status", "input": "input", "output": "output",
        "errorMessage": "error_message", "errorType": "error_type", "model": "model", "modelName": "model",
        "promptTokens": "prompt_tokens", "completionTokens": "completion_tokens", "totalTokens": "total_tokens",
        "cost": "cost_usd", "costUsd": "cost_usd", "environment": "environment", "tags": "tags", "tools": "tools",
        "metadata": "metadata", "parentTraceId": "parent_trace_id", "spanType": "span_type"}';
    st text; msg text; det text; hnt text;
BEGIN
    IF scope = '' THEN
        PERFORM execlave_api.fail(401, 'EX010', 'no API key authenticated this request');
    END IF;
    IF traces IS NULL OR jsonb_typeof(traces) <> 'array' THEN
        PERFORM execlave_api.fail(400, '22023', 'traces must be a JSON array of trace objects');
    END IF;
    n := jsonb_array_length(traces);
    IF n > 1000 THEN
        PERFORM execlave_api.fail(400, '22023', 'at most 1000 traces per batch');
    END IF;
    IF scope = 'agent' THEN
        SELECT a.key INTO own_key FROM execlave.agents a WHERE a.id = own;
    END IF;

    -- one statement for the usual batch: every element an object of known
    -- fields, naming by a string agentId an agent the key may act for
    -- (checked by C functions, not by a query per trace; the names are those of known)
    IF n > 0 AND NOT jsonb_path_exists(traces, '$[*] ? (@.type() != "object" || !(@.agentId.type() == "string"))') THEN
        fast := execlave_api.trace_fields_known(traces)
            AND (scope <> 'agent' OR NOT jsonb_path_exists(traces, '$[*] ? (@.agentId != $key && @.agentId != $id)',
                                                           jsonb_build_object('key', own_key, 'id', own::text)));
    END IF;
    IF fast THEN
        ids := ARRAY(SELECT execlave.new_trace_id() FROM jsonb_array_elements(traces));
        BEGIN
            INSERT INTO execlave.traces (trace_id, agent_key, session_id, user_id, started_at, duration_ms, status, input,
                output, error_message, error_type, model, prompt_tokens, completion_tokens, total_tokens, cost_usd,
                environment, tags, tools, metadata, parent_trace_id, span_type, ingested_at)
            SELECT coalesce(x."traceId", ids[x.o]), x."agentId", x."sessionId", x."userId",
                coalesce(x."timestamp", x."startedAt", now()), coalesce(x."durationMs", x.duration),
                coalesce(x.status, 'success'), x.input, x.output, x."errorMessage", x."errorType",
                coalesce(x."modelName", x.model), x."promptTokens", x."completionTokens", x."totalTokens",
                coalesce(x."costUsd", x.cost), x.environment, coalesce(x.tags, '{}'), coalesce(x.tools, '{}'),
                coalesce(x.metadata, '{}'), x."parentTraceId", x."spanType", now()
            FROM ROWS FROM (jsonb_to_recordset(traces) AS ("traceId" text, "agentId" text, "sessionId" text,
                    "userId" text, "timestamp" timestamptz, "startedAt" timestamptz, "durationMs" double precision,
                    duration double precision, status text, input text, output text, "errorMessage" text,
                    "errorType" text, model text, "modelName" text, "promptTokens" integer, "completionTokens" integer,
                    "totalTokens" integer, cost numeric, "costUsd" numeric, environment text, tags text[],
                    tools text[], metadata jsonb, "parentTraceId" text, "spanType" text))
                 WITH ORDINALITY AS x("traceId", "agentId", "sessionId", "userId", "timestamp", "startedAt",
                    "durationMs", duration, status, input, output, "errorMessage", "errorType", model, "modelName",
                    "promptTokens", "completionTokens", "totalTokens", cost, "costUsd", environment, tags, tools,
                    metadata, "parentTraceId", "spanType", o);
            RETURN jsonb_build_object('accepted', n, 'failed', 0, 'errors', '[]'::jsonb);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
        END;
        IF st = 'EX003' THEN
            -- the detail lists the recorded violations with their trace ids
            SELECT coalesce(jsonb_object_agg(v ->> 'trace_id', msg), '{}') INTO blocked
            FROM jsonb_array_elements(CASE WHEN det ~ '^\s*\[' THEN det::jsonb ELSE '[]' END) v
            WHERE v ->> 'trace_id' IS NOT NULL;
        END IF;
        -- the trace by trace path uses the trace ids the first attempt drew
        SELECT jsonb_agg(CASE WHEN jsonb_typeof(e -> 'traceId') = 'string' THEN e
                              ELSE e || jsonb_build_object('traceId', ids[o]) END ORDER BY o)
        INTO traces FROM jsonb_array_elements(traces) WITH ORDINALITY AS x(e, o);
    END IF;

    -- trace by trace, each in its own subtransaction
    FOR t IN SELECT e FROM jsonb_array_elements(traces) e LOOP
        tid := NULL;
        BEGIN
            IF jsonb_typeof(t) <> 'object' THEN
                RAISE EXCEPTION 'trace % is not a JSON object', i USING ERRCODE = 'invalid_parameter_value';
            END IF;
            tid := t->>'traceId';
            IF blocked ? tid THEN
                RAISE EXCEPTION '%', blocked ->> tid USING ERRCODE = 'EX003';
            END IF;
            row_trace := '{}';
            FOR k IN SELECT e.key FROM jsonb_each(t) e WHERE jsonb_typeof(e.value) <> 'null' LOOP
                col := known->>k;
                IF col IS NULL THEN
                    RAISE EXCEPTION 'unknown trace field "%"', k USING ERRCODE = 'invalid_parameter_value',
                        HINT = 'Fields: ' || (SELECT string_agg(x, ', ' ORDER BY x) FROM jsonb_object_keys(known) x) || '.';
                END IF;
                row_trace := row_trace || jsonb_build_object(col, t->k);
            END LOOP;
            IF row_trace->>'agent_key' IS NULL THEN
                RAISE EXCEPTION 'trace % names no agent', i USING ERRCODE = 'not_null_violation', HINT = 'Set agentId.';
            END IF;
            PERFORM execlave_api.own_agent(row_trace->>'agent_key', 'submit traces');
            INSERT INTO execlave.traces SELECT * FROM jsonb_populate_record(NULL::execlave.traces,
                jsonb_build_object('trace_id', execlave.new_trace_id(), 'started_at', now(), 'status', 'success',
                                   'tags', '{}'::text[], 'tools', '{}'::text[], 'metadata', '{}'::jsonb,
                                   'ingested_at', now()) || row_trace)
            RETURNING trace_id INTO tid;
            ok := ok + 1;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
            IF st = 'PGRST' THEN        -- from own_agent: keep its status and message
                errors := errors || jsonb_build_object('index', i, 'traceId', tid, 'status', (det::jsonb->>'status')::int,
                    'code', msg::jsonb->>'code', 'message', msg::jsonb->>'message');
            ELSE
                errors := errors || jsonb_build_object('index', i, 'traceId', tid, 'status', execlave_api.http_status(st),
                    'code', st, 'message', msg);
            END IF;
        END;
        i := i + 1;
    END LOOP;
    RETURN jsonb_build_object('accepted', ok, 'failed', i - ok, 'errors', errors);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.ingest_traces(jsonb) IS 'HTTP: batch trace ingestion (up to 1000): one INSERT for a batch of well-formed traces, else each trace in its own subtransaction (a blocked trace''s violation recorded once); answers {accepted, failed, errors[{index, traceId, status, code, message}]}. Admin keys, or an agent key for its own traces';

-------------------------------------------------------------------------------
-- The hosted API (/api, /api/v1, /health through nginx)
-------------------------------------------------------------------------------

-- The routes: method and path ({id}: an agent's UUID or key; every /api
-- path is also served under /api/v1), the handler (execlave_api.http_<handler>),
-- the keys it takes (none; admin; any: admin, or an agent key for its own
-- agent only) and its query parameters.
CREATE FUNCTION execlave_api.routes()
RETURNS TABLE (method text, path text, handler text, keys text, params text[])
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    VALUES
        ('GET',   '/health',                       'health',         'none',  '{}'::text[]),
        ('HEAD',  '/health',                       'health',         'none',  '{}'),
        ('POST',  '/api/agents',                   'register_agent', 'any',   '{}'),
        ('GET',   '/api/agents',                   'list_agents',    'any',   '{search,status,limit}'),
        ('GET',   '/api/agents/{id}',              'get_agent',      'any',   '{}'),
        ('GET',   '/api/agents/{id}/status-poll',  'status_poll',    'any',   '{}'),
        ('POST',  '/api/agents/{id}/heartbeat',    'heartbeat',      'any',   '{}'),
        ('PATCH', '/api/agents/{id}/pause',        'pause_agent',    'admin', '{}'),
        ('PATCH', '/api/agents/{id}/resume',       'resume_agent',   'admin', '{}'),
        ('POST',  '/api/agents/{id}/grants',       'create_grant',   'admin', '{}'),
        ('POST',  '/api/agents/authorize',         'authorize',      'any',   '{}'),
        ('POST',  '/api/webhooks',                 'create_webhook', 'admin', '{}'),
        ('POST',  '/api/policies/enforce',         'enforce',        'any',   '{}'),
        ('POST',  '/api/traces/ingest',            'ingest_traces',  'any',   '{}'),
        ('GET',   '/api/approvals',                'list_approvals', 'admin', '{status,agentId,limit}'),
        ('GET',   '/api/approvals/{id}',           'get_approval',   'any',   '{}'),
        ('POST',  '/api/approvals/{id}/verify',    'verify_approval','any',   '{}'),
        ('POST',  '/api/approvals/{id}/approve',   'approve_approval', 'admin', '{}'),
        ('POST',  '/api/approvals/{id}/deny',      'deny_approval',  'admin', '{}')
$$;
COMMENT ON FUNCTION execlave_api.routes() IS 'The hosted API''s routes (README: HTTP API): method, path ({id}: an agent''s UUID or key; /api paths also under /api/v1), handler, keys allowed, query parameters';

-- The routes by path, then method: {path: {method: [handler, keys, params]}}.
-- IMMUTABLE without arguments: a caller's plan holds it as a constant.
CREATE FUNCTION execlave_api.route_map() RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_object_agg(p.path, p.methods)
    FROM (SELECT r.path, jsonb_object_agg(r.method, jsonb_build_array(r.handler, r.keys, to_jsonb(r.params))) AS methods
          FROM execlave_api.routes() r GROUP BY r.path) p
$$;
COMMENT ON FUNCTION execlave_api.route_map() IS 'Internal: execlave_api.routes() as {path: {method: [handler, keys, params]}}';

-- Percent-decoding of a URI component (UTF-8); 22021 for invalid UTF-8.
CREATE FUNCTION execlave_api.url_decode(s text, plus_is_space boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    b bytea := '';
    m text[];
BEGIN
    IF plus_is_space THEN
        s := replace(s, '+', ' ');
    END IF;
    IF strpos(s, '%') = 0 THEN
        RETURN s;
    END IF;
    FOR m IN SELECT regexp_matches(s, '%([0-9A-Fa-f]{2})|([^%]+)|(%)', 'g') LOOP
        b := b || CASE WHEN m[1] IS NOT NULL THEN decode(m[1], 'hex') ELSE convert_to(coalesce(m[2], m[3]), 'UTF8') END;
    END LOOP;
    RETURN convert_from(b, 'UTF8');
END
$$;
COMMENT ON FUNCTION execlave_api.url_decode(text, boolean) IS 'Internal: percent-decode a URI component (plus_is_space: a query string''s + is a space)';

-- A query string as a JSON object of decoded names and values (the last of a repeated name wins).
CREATE FUNCTION execlave_api.query_params(query text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF query IS NULL OR query = '' THEN
        RETURN '{}';
    END IF;
    RETURN (SELECT coalesce(jsonb_object_agg(q.n, q.v ORDER BY q.o), '{}')
            FROM (SELECT execlave_api.url_decode(split_part(p, '=', 1), true) AS n,
                         execlave_api.url_decode(substr(p, length(split_part(p, '=', 1)) + 2), true) AS v, o
                  FROM unnest(string_to_array(query, '&')) WITH ORDINALITY AS t(p, o)
                  WHERE p <> '') q);
END
$$;
COMMENT ON FUNCTION execlave_api.query_params(text) IS 'Internal: a query string as a JSON object of decoded names and values';

-- Refuse a body field that spec (name -> JSON type: string, number, boolean,
-- array, object, or any) does not name, or of another type; null is absent.
CREATE FUNCTION execlave_api.check_fields(body jsonb, spec jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    f record;
BEGIN
    SELECT e.key, e.value, spec ->> e.key AS want INTO f FROM jsonb_each(body) e
    WHERE spec ->> e.key IS NULL OR (spec ->> e.key <> 'any' AND jsonb_typeof(e.value) NOT IN (spec ->> e.key, 'null'))
    ORDER BY e.key LIMIT 1;
    IF NOT FOUND THEN
        RETURN;
    ELSIF f.want IS NULL THEN
        RAISE EXCEPTION 'unknown field "%"', left(f.key, 64) USING ERRCODE = 'invalid_parameter_value',
            HINT = CASE WHEN spec = '{}' THEN 'This call takes no body fields.'
                        ELSE 'Fields: ' || (SELECT string_agg(k, ', ' ORDER BY k) FROM jsonb_object_keys(spec) k) || '.' END;
    ELSE
        RAISE EXCEPTION 'field "%" must be a JSON %, not %', f.key, f.want, jsonb_typeof(f.value)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;
COMMENT ON FUNCTION execlave_api.check_fields(jsonb, jsonb) IS 'Internal: 22023 for a body field the call does not take or of the wrong JSON type';

-- A required body field as text (22023 when absent or null).
CREATE FUNCTION execlave_api.required(body jsonb, field text) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF body -> field IS NULL OR jsonb_typeof(body -> field) = 'null' THEN
        RAISE EXCEPTION 'field "%" is required', field USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN body ->> field;
END
$$;
COMMENT ON FUNCTION execlave_api.required(jsonb, text) IS 'Internal: a required body field as text; 22023 when it is absent or null';

-- A JSON array of strings as text[] (NULL stays NULL); 22023 otherwise.
CREATE FUNCTION execlave_api.text_array(value jsonb, field text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF value IS NULL OR jsonb_typeof(value) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(value) <> 'array'
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(value) e WHERE jsonb_typeof(e) <> 'string') THEN
        RAISE EXCEPTION 'field "%" must be a JSON array of strings', field USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN ARRAY(SELECT e FROM jsonb_array_elements_text(value) WITH ORDINALITY AS t(e, o) ORDER BY o);
END
$$;
COMMENT ON FUNCTION execlave_api.text_array(jsonb, text) IS 'Internal: a JSON array of strings as text[]; 22023 for anything else';

-- The hosted error code of an error (status when the SQLSTATE says nothing more).
CREATE FUNCTION execlave_api.error_code(sqlstate text, status integer) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN CASE
        WHEN sqlstate = 'EX001' THEN 'agent_paused'
        WHEN sqlstate = 'EX002' THEN 'agent_not_found'
        WHEN sqlstate = 'EX003' THEN 'policy_blocked'
        WHEN sqlstate = 'EX004' THEN 'agent_archived'
        WHEN sqlstate = 'EX011' THEN 'not_authorized'
        WHEN sqlstate = 'EX012' THEN 'approval_not_found'
        WHEN sqlstate = 'EX013' THEN 'approval_already_decided'
        WHEN sqlstate = 'EX014' THEN 'approval_expired'
        ELSE CASE status
            WHEN 400 THEN 'validation_error' WHEN 401 THEN 'unauthorized' WHEN 403 THEN 'forbidden'
            WHEN 404 THEN 'not_found' WHEN 409 THEN 'conflict' WHEN 423 THEN 'agent_paused'
            WHEN 503 THEN 'service_unavailable' ELSE 'internal_error' END
    END;
END
$$;
COMMENT ON FUNCTION execlave_api.error_code(text, integer) IS 'Internal: the hosted API''s error code of a SQLSTATE and HTTP status (README: errors over HTTP)';

-- {"success": false, "error": {code, message[, sqlstate][, hint][, details]}}
CREATE FUNCTION execlave_api.error_body(code text, message text, sqlstate text DEFAULT NULL,
                                        hint text DEFAULT NULL, details text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN jsonb_build_object('success', false, 'error',
        jsonb_strip_nulls(jsonb_build_object('code', code, 'message', message, 'sqlstate', sqlstate,
                                             'hint', nullif(hint, ''), 'details', nullif(details, ''))));
END
$$;
COMMENT ON FUNCTION execlave_api.error_body(text, text, text, text, text) IS 'Internal: a hosted API error body';

-- Set the response's status (and headers: a JSON object) for PostgREST and return the body.
CREATE FUNCTION execlave_api.respond(status integer, body jsonb, headers jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM set_config('response.status', status::text, true);
    IF headers IS NOT NULL THEN
        PERFORM set_config('response.headers',
            (SELECT jsonb_agg(jsonb_build_object(h.key, h.value))::text FROM jsonb_each_text(headers) h), true);
    END IF;
    RETURN body;
END
$$;
COMMENT ON FUNCTION execlave_api.respond(integer, jsonb, jsonb) IS 'Internal: set PostgREST''s response.status (and response.headers) and return the body';

-- An agent as the hosted API shows it; what the SDKs registered (type,
-- platform, environment, ...) is kept in metadata.sdk.
CREATE FUNCTION execlave_api.hosted_agent(agent uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('id', a.id, 'agentId', a.key, 'name', a.name, 'description', a.description,
        'status', a.status, 'type', a.metadata -> 'sdk' -> 'type', 'platform', a.metadata -> 'sdk' -> 'platform',
        'environment', a.metadata -> 'sdk' -> 'environment', 'ownerEmail', a.metadata -> 'sdk' -> 'ownerEmail',
        'autonomyLevel', a.metadata -> 'sdk' -> 'autonomyLevel', 'tags', to_jsonb(a.tags),
        'metadata', a.metadata - 'sdk', 'pauseReason', a.pause_reason, 'pausedAt', a.paused_at,
        'pausedBy', a.paused_by, 'statusChangedAt', a.status_changed_at, 'createdAt', a.created_at,
        'updatedAt', a.updated_at)
    FROM execlave.agents a WHERE a.id = agent);
END
$$;
COMMENT ON FUNCTION execlave_api.hosted_agent(uuid) IS 'Internal: an agent as the hosted API shows it (id, agentId = key, name, status, environment, ...)';

-- Each handler: (the path's agent reference, the query parameters, the body)
-- -> (status, answer).  The functions on this path are PL/pgSQL, whose plans
-- a session keeps: a SQL function that cannot be inlined (its SET clause
-- forbids it) is planned again at every call (~50 us each).  An error it raises becomes the dispatcher's error
-- answer and undoes what it wrote; a refusal that keeps records is an answer.

CREATE FUNCTION execlave_api.http_health(path_id text, query jsonb, body jsonb, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    status := 200;
    answer := jsonb_build_object('success', true, 'data', jsonb_build_object('status', 'ok',
        'version', (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'execlave')));
END
$$;
COMMENT ON FUNCTION execlave_api.http_health(text, jsonb, jsonb) IS 'HTTP GET /health: 200 once PostgREST and the database answer';

-- POST /api/agents: idempotent registration (201 created, 200 existing, unchanged).
CREATE FUNCTION execlave_api.http_register_agent(path_id text, query jsonb, body jsonb, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    agent_key text;
    aid uuid;
    profile jsonb;
BEGIN
    PERFORM execlave_api.check_fields(body, '{"agentId": "string", "name": "string", "type": "string",
        "platform": "string", "environment": "string", "description": "string", "ownerEmail": "string",
        "tags": "array", "metadata": "object", "autonomyLevel": "string", "allowedActions": "array",
        "allowedDataSources": "array", "requiresHumanApprovalFor": "array", "capabilities": "array"}');
    agent_key := execlave_api.required(body, 'agentId');
    IF body ->> 'autonomyLevel' NOT IN ('observe', 'advise', 'act_with_approval', 'autonomous') THEN
        RAISE EXCEPTION 'invalid autonomyLevel "%"', body ->> 'autonomyLevel' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'One of observe, advise, act_with_approval, autonomous.';
    END IF;
    IF execlave_api.caller_scope() = 'agent' THEN
        -- an agent key registers (finds) its own agent only
        aid := execlave_api.own_agent(agent_key, 'register');
        status := 200;
    ELSE
        SELECT a.id INTO aid FROM execlave.agents a WHERE a.key = agent_key;
        status := 200;
        IF aid IS NULL THEN
            profile := jsonb_strip_nulls(jsonb_build_object('type', coalesce(body -> 'type', '"chatbot"'),
                'platform', body -> 'platform', 'environment', body -> 'environment', 'ownerEmail', body -> 'ownerEmail',
                'autonomyLevel', body -> 'autonomyLevel',
                'allowedActions', to_jsonb(execlave_api.text_array(body -> 'allowedActions', 'allowedActions')),
                'allowedDataSources', to_jsonb(execlave_api.text_array(body -> 'allowedDataSources', 'allowedDataSources')),
                'requiresHumanApprovalFor', to_jsonb(execlave_api.text_array(body -> 'requiresHumanApprovalFor', 'requiresHumanApprovalFor')),
                'capabilities', to_jsonb(execlave_api.text_array(body -> 'capabilities', 'capabilities'))));
            aid := execlave.register_agent(agent_key, body ->> 'name', body ->> 'description',
                coalesce(execlave_api.text_array(body -> 'tags', 'tags'), '{}'),
                coalesce(nullif(body -> 'metadata', 'null'), '{}') || jsonb_build_object('sdk', profile));
            status := 201;
        END IF;
    END IF;
    answer := jsonb_build_object('success', true, 'data', execlave_api.hosted_agent(aid));
END
$$;
COMMENT ON FUNCTION execlave_api.http_register_agent(text, jsonb, jsonb) IS 'HTTP POST /api/agents: register an agent, idempotent on agentId (201 created, 200 existing); admin keys, or an agent key for its own agent';

-- GET /api/agents[?search=&status=&limit=]: agents whose key or name contains search.
CREATE FUNCTION execlave_api.http_list_agents(path_id text, query jsonb, body jsonb, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    search text := lower(query ->> 'search');
    want_status text := query ->> 'status';
    lim integer;
    own uuid := execlave.api_caller_agent();
    admin boolean := execlave_api.caller_scope() = 'admin';
BEGIN
    BEGIN
        lim := coalesce((query ->> 'limit')::integer, 100);
    EXCEPTION WHEN OTHERS THEN
        lim := 0;
    END;
    IF lim NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'limit must be an integer from 1 to 1000' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    status := 200;
    answer := jsonb_build_object('success', true, 'data',
        (SELECT coalesce(jsonb_agg(execlave_api.hosted_agent(x.id) ORDER BY x.key), '[]')
         FROM (SELECT a.id, a.key FROM execlave.agents a
               WHERE (admin OR a.id = own)
                 AND (search IS NULL OR strpos(lower(a.key), search) > 0 OR strpos(lower(coalesce(a.name, '')), search) > 0)
                 AND (want_status IS NULL OR a.status = want_status)
               ORDER BY a.key LIMIT lim) x));
END
$$;
COMMENT ON FUNCTION execlave_api.http_list_agents(text, jsonb, jsonb) IS 'HTTP GET /api/agents: agents whose key or name contains search (case-insensitive), optionally of one status; an agent key sees its own agent only';

-- GET /api/agents/{id}
CREATE FUNCTION execlave_api.http_get_agent(path_id text, query jsonb, body jsonb, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    status := 200;
    answer := jsonb_build_object('success', true, 'data',
        execlave_api.hosted_agent(execlave_api.own_agent(path_id, 'read agent')));
END
$$;
COMMENT ON FUNCTION execlave_api.http_get_agent(text, jsonb, jsonb) IS 'HTTP GET /api/agents/{id}: one agent (UUID or key); admin keys, or the agent''s own key';

-- GET /api/agents/{id}/status-poll: how the SDKs learn of a pause.
CREATE FUNCTION execlave_api.http_status_poll(path_id text, query jsonb, body jsonb, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    aid uuid := execlave_api.own_agent(path_id, 'read the status');
BEGIN
    status := 200;
    answer := (SELECT jsonb_build_object('success', true, 'data', jsonb_build_object('id', a.id, 'agentId', a.key,
                   'status', a.status, 'pauseReason', a.pause_reason, 'pausedAt', a.paused_at, 'pausedBy', a.paused_by,
                   'statusChangedAt', a.status_changed_at))
               FROM execlave.agents a WHERE a.id = aid);
END
$$;
COMMENT ON FUNCTION execlave_api.http_status_poll(text, jsonb, jsonb) IS 'HTTP GET /api/agents/{id}/status-poll: {id, agentId, status, pauseReason, ...}; admin keys, or the agent''s own key';

-- POST /api/agents/{id}/heartbeat: writes nothing, answers the status.
CREATE FUNCTION execlave_api.http_heartbeat(path_id text, query jsonb, body jsonb, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    aid uuid;
BEGIN
    PERFORM execlave_api.check_fields(body, '{"lastPolicyCheckAt": "string"}');
    aid := execlave_api.own_agent(path_id, 'send heartbeats');
    status := 200;
    answer := (SELECT jsonb_build_object('success', true, 'data', jsonb_build_object('id', a.id, 'agentId', a.key,
                   'status', a.status, 'receivedAt', now()))
               FROM execlave.agents a WHERE a.id = aid);
END
$$;
COMMENT ON FUNCTION execlave_api.http_heartbeat(text, jsonb, jsonb) IS 'HTTP POST /api/agents/{id}/heartbeat: acknowledged with the agent''s status; writes nothing';

-- PATCH /api/agents/{id}/pause {"reason"}
CREATE FUNCTION execlave_api.http_pause_agent(path_id text, query jsonb, body jsonb, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    changed boolean;
BEGIN
    PERFORM execlave_api.check_fields(body, '{"reason": "string"}');
    changed := execlave.pause_agent(path_id, execlave_api.required(body, 'reason'));
    status := 200;
    answer := jsonb_build_object('success', true, 'data',
        execlave_api.hosted_agent(execlave.resolve_agent(path_id)) || jsonb_build_object('changed', changed));
END
$$;
COMMENT ON FUNCTION execlave_api.http_pause_agent(text, jsonb, jsonb) IS 'HTTP PATCH /api/agents/{id}/pause: the kill switch; the agent with changed (false if it was paused already); admin keys';

-- PATCH /api/agents/{id}/resume
CREATE FUNCTION execlave_api.http_resume_agent(path_id text, query jsonb, body jsonb, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    changed boolean;
BEGIN
    PERFORM execlave_api.check_fields(body, '{}');
    changed := execlave.resume_agent(path_id);
    status := 200;
    answer := jsonb_build_object('success', true, 'data',
        execlave_api.hosted_agent(execlave.resolve_agent(path_id)) || jsonb_build_object('changed', changed));
END
$$;
COMMENT ON FUNCTION execlave_api.http_resume_agent(text, jsonb, jsonb) IS 'HTTP PATCH /api/agents/{id}/resume: the agent with changed (false if it was not paused); admin keys';

-- POST /api/agents/{id}/grants {"targetAgentId", "allowedActions", "expiresAt"}
CREATE FUNCTION execlave_api.http_create_grant(path_id text, query jsonb, body jsonb, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    gid uuid;
BEGIN
    PERFORM execlave_api.check_fields(body, '{"targetAgentId": "string", "allowedActions": "array", "expiresAt": "string"}');
    gid := execlave.create_grant(path_id, execlave_api.required(body, 'targetAgentId'),
        execlave_api.text_array(body -> 'allowedActions', 'allowedActions'), (body ->> 'expiresAt')::timestamptz);
    status := 201;
    answer := (SELECT jsonb_build_object('success', true, 'data', jsonb_build_object('id', g.id,
                   'sourceAgentId', g.source_id, 'sourceAgentKey', s.key, 'targetAgentId', g.target_id,
                   'targetAgentKey', t.key, 'allowedActions', to_jsonb(g.actions), 'expiresAt', g.expires_at,
                   'createdAt', g.created_at, 'createdBy', g.created_by))
               FROM execlave.grants g JOIN execlave.agents s ON s.id = g.source_id JOIN execlave.agents t ON t.id = g.target_id
               WHERE g.id = gid);
END
$$;
COMMENT ON FUNCTION execlave_api.http_create_grant(text, jsonb, jsonb) IS 'HTTP POST /api/agents/{id}/grants: grant the agent (source) actions on targetAgentId until expiresAt; 201 with the grant; admin keys';

-- authorize's answer (shared by http_authorize and the C dispatcher): 200
-- with the grant, or 403 with the reason.
CREATE FUNCTION execlave_api.authorize_answer(authorized boolean, reason text, grant_id uuid, src text, tgt text,
                                              act text, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    g jsonb;
BEGIN
    IF authorized THEN
        g := (SELECT jsonb_build_object('id', x.id, 'callerAgentId', src, 'calleeAgentId', tgt,
                  'sourceAgentId', x.source_id, 'targetAgentId', x.target_id, 'allowedActions', to_jsonb(x.actions),
                  'expiresAt', x.expires_at)
              FROM execlave.grants x WHERE x.id = grant_id);
        status := 200;
        answer := jsonb_build_object('success', true, 'authorized', true, 'reason', reason, 'grant', g,
            'data', jsonb_build_object('authorized', true, 'reason', reason, 'grant', g));
    ELSE
        status := 403;
        answer := jsonb_build_object('success', false, 'authorized', false, 'reason', reason,
            'error', jsonb_build_object('code', 'not_authorized',
                'message', format('agent "%s" is not authorized to %s agent "%s"', src, act, tgt)));
    END IF;
END
$$;
COMMENT ON FUNCTION execlave_api.authorize_answer(boolean, text, uuid, text, text, text) IS 'Internal: the hosted answer (status, body) of an authorize decision';

-- POST /api/agents/authorize {"sourceAgentId" | "callerAgentId", "targetAgentId" | "calleeAgentId", "action"}
-- Denied: 403, committed (nothing is rolled back for a refusal).
CREATE FUNCTION execlave_api.http_authorize(path_id text, query jsonb, body jsonb, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    src text;
    tgt text;
    act text;
    d record;
BEGIN
    PERFORM execlave_api.check_fields(body, '{"sourceAgentId": "string", "callerAgentId": "string",
        "targetAgentId": "string", "calleeAgentId": "string", "action": "string"}');
    IF body ->> 'sourceAgentId' <> body ->> 'callerAgentId' OR body ->> 'targetAgentId' <> body ->> 'calleeAgentId' THEN
        RAISE EXCEPTION 'sourceAgentId and callerAgentId (or targetAgentId and calleeAgentId) name different agents'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Send one spelling of each.';
    END IF;
    src := coalesce(body ->> 'sourceAgentId', body ->> 'callerAgentId');
    tgt := coalesce(body ->> 'targetAgentId', body ->> 'calleeAgentId');
    IF src IS NULL THEN
        RAISE EXCEPTION 'field "sourceAgentId" (or "callerAgentId") is required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF tgt IS NULL THEN
        RAISE EXCEPTION 'field "targetAgentId" (or "calleeAgentId") is required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    act := execlave_api.required(body, 'action');
    IF execlave_api.caller_scope() = 'agent' THEN
        PERFORM execlave_api.own_agent(src, 'authorize as source');
    END IF;
    SELECT * INTO d FROM execlave_api.authorize_decision(src, tgt, act);
    SELECT a.status, a.answer INTO status, answer FROM execlave_api.authorize_answer(d.authorized, d.reason, d.grant_id, src, tgt, act) a;
END
$$;
COMMENT ON FUNCTION execlave_api.http_authorize(text, jsonb, jsonb) IS 'HTTP POST /api/agents/authorize: 200 {authorized: true, grant} or 403 {authorized: false, reason}; an agent key, as its own source only, gets reason not_authorized for every denial that concerns another agent';

-- POST /api/webhooks {"url", "events", "secret", "description"}
CREATE FUNCTION execlave_api.http_create_webhook(path_id text, query jsonb, body jsonb, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    w record;
BEGIN
    PERFORM execlave_api.check_fields(body, '{"url": "string", "events": "array", "secret": "string", "description": "string"}');
    SET LOCAL client_min_messages = error;      -- the worker warning is for SQL users
    SELECT * INTO w FROM execlave.create_webhook(execlave_api.required(body, 'url'),
        execlave_api.text_array(body -> 'events', 'events'), body ->> 'secret', body ->> 'description');
    status := 201;
    answer := (SELECT jsonb_build_object('success', true, 'data', jsonb_build_object('id', x.id, 'url', x.url,
                   'events', coalesce(to_jsonb(x.events), '["*"]'), 'secret', w.signing_secret, 'active', x.active,
                   'description', x.description, 'createdAt', x.created_at))
               FROM execlave.webhooks x WHERE x.id = w.id);
END
$$;
COMMENT ON FUNCTION execlave_api.http_create_webhook(text, jsonb, jsonb) IS 'HTTP POST /api/webhooks: register an endpoint; 201 with its signing secret (this once); admin keys';

-- The answer of a pre-execution check of agent aid whose execlave.enforce
-- result is r (shared by http_enforce and the C dispatcher).
CREATE FUNCTION execlave_api.enforce_answer(aid uuid, r jsonb, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    violations jsonb;
    warnings jsonb;
    sys text;
    agent_status text;
BEGIN
    SELECT coalesce(jsonb_agg(jsonb_build_object('policyId', v -> 'policy_id', 'policyName', v -> 'policy_name',
               'policyType', v -> 'type', 'message', v -> 'message', 'enforcementMode', v -> 'mode',
               'details', v -> 'details') ORDER BY o), '[]'),
           coalesce(jsonb_agg(jsonb_build_object('policyId', v -> 'policy_id', 'policyName', v -> 'policy_name',
               'policyType', v -> 'type', 'message', v -> 'message', 'enforcementMode', v -> 'mode') ORDER BY o)
               FILTER (WHERE v ->> 'mode' <> 'block'), '[]')
    INTO violations, warnings
    FROM jsonb_array_elements(r -> 'violations') WITH ORDINALITY AS t(v, o);
    answer := jsonb_build_object('success', (r ->> 'allowed')::boolean, 'allowed', r -> 'allowed',
        'violations', violations, 'warnings', warnings, 'notes', r -> 'warnings');
    IF (r ->> 'allowed')::boolean THEN
        status := 200;
        answer := answer || jsonb_build_object('data', jsonb_build_object('allowed', true, 'violations', violations,
                                                                          'warnings', warnings));
        IF (r ->> 'approval_consumed')::boolean THEN
            answer := answer || jsonb_build_object('approvalConsumed', true, 'approvalRequestId', r -> 'approval_request_id');
            answer := jsonb_set(answer, '{data}', (answer -> 'data')
                || jsonb_build_object('approvalConsumed', true, 'approvalRequestId', r -> 'approval_request_id'));
        END IF;
        RETURN;
    END IF;
    -- a require_approval policy fired (and no block policy): 202, the
    -- pending request's id; committed with it and its approval.requested event
    IF (r ->> 'requires_approval')::boolean THEN
        status := 202;
        answer := answer || jsonb_build_object('success', true, 'requiresApproval', true,
            'approvalRequestId', r -> 'approval_request_id', 'approvalExpiresAt', r -> 'approval_expires_at');
        answer := answer || jsonb_build_object('data', jsonb_build_object('allowed', false, 'requiresApproval', true,
            'approvalRequestId', r -> 'approval_request_id', 'approvalExpiresAt', r -> 'approval_expires_at',
            'violations', violations, 'warnings', warnings));
        RETURN;
    END IF;
    status := 403;
    SELECT v ->> 'message' INTO sys FROM jsonb_array_elements(r -> 'violations') v WHERE v ->> 'type' = 'system' LIMIT 1;
    SELECT a.status INTO agent_status FROM execlave.agents a WHERE a.id = aid;
    answer := answer || jsonb_build_object('error', CASE
        WHEN sys IS NOT NULL AND agent_status IN ('paused', 'archived')
            THEN jsonb_build_object('code', 'agent_' || agent_status, 'message', sys)
        ELSE jsonb_build_object('code', 'policy_blocked', 'message', 'request blocked by policy') END);
END
$$;
COMMENT ON FUNCTION execlave_api.enforce_answer(uuid, jsonb) IS 'Internal: the hosted answer (status, body) of a pre-execution check of an agent, from execlave.enforce''s result';

-- POST /api/policies/enforce: 200 allowed; 202 {requiresApproval,
-- approvalRequestId} when a require_approval policy fired (the pending
-- request committed); 403 {allowed: false, violations} when blocked or when
-- the agent is paused or archived, committed with the violations recorded
-- (and their policy.violated deliveries).
CREATE FUNCTION execlave_api.http_enforce(path_id text, query jsonb, body jsonb, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    agent text;
    aid uuid;
    meta jsonb;
    r jsonb;
BEGIN
    PERFORM execlave_api.check_fields(body, '{"agentId": "string", "input": "string", "environment": "string",
        "metadata": "object", "estimatedCost": "number", "tools": "array", "model": "string", "modelName": "string",
        "toolDescriptors": "any", "conversationHistory": "any", "toolOutputs": "any"}');
    agent := execlave_api.required(body, 'agentId');
    PERFORM execlave_api.required(body, 'input');
    aid := execlave_api.own_agent(agent, 'run a pre-execution check');
    meta := nullif(body -> 'metadata', 'null');
    IF body ->> 'environment' IS NOT NULL THEN
        meta := coalesce(meta, '{}') || jsonb_build_object('environment', body ->> 'environment');
    END IF;
    r := execlave.enforce(agent, body ->> 'input', coalesce(body ->> 'model', body ->> 'modelName'),
                          (body ->> 'estimatedCost')::numeric, execlave_api.text_array(body -> 'tools', 'tools'), meta);
    SELECT e.status, e.answer INTO status, answer FROM execlave_api.enforce_answer(aid, r) e;
END
$$;
COMMENT ON FUNCTION execlave_api.http_enforce(text, jsonb, jsonb) IS 'HTTP POST /api/policies/enforce: pre-execution check; 200 {allowed: true, violations, warnings}; 202 {requiresApproval: true, approvalRequestId} when a require_approval policy fired; 403 {allowed: false, violations} when blocked or the agent is paused; committed with what it recorded; admin keys, or the agent''s own key';

-- POST /api/traces/ingest {"traces": [...]}: each trace in its own
-- subtransaction (execlave_api.ingest_traces); the batch commits what was
-- accepted.  200 all accepted, 207 some refused, else the refusals' common
-- status (422 when they differ).
CREATE FUNCTION execlave_api.http_ingest_traces(path_id text, query jsonb, body jsonb, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    traces jsonb;
    own uuid := execlave.api_caller_agent();
    r jsonb;
    errors jsonb;
    statuses integer[];
BEGIN
    PERFORM execlave_api.check_fields(body, '{"traces": "array"}');
    IF jsonb_typeof(body -> 'traces') IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'field "traces" is required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_array_length(body -> 'traces') > 1000 THEN
        RAISE EXCEPTION 'at most 1000 traces per batch (got %)', jsonb_array_length(body -> 'traces')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the SDKs' agentCredential is not kept; an agent key's traces name its agent by default
    traces := body -> 'traces';
    IF jsonb_path_exists(traces, '$[*] ? (exists(@.agentCredential))')
       OR (own IS NOT NULL AND jsonb_path_exists(traces, '$[*] ? (@.type() == "object" && !(exists(@.agentId)) || @.agentId == null)')) THEN
        SELECT coalesce(jsonb_agg(CASE WHEN jsonb_typeof(t) <> 'object' THEN t
                                       WHEN own IS NOT NULL AND coalesce(jsonb_typeof(t -> 'agentId'), 'null') = 'null'
                                           THEN (t - 'agentCredential') || jsonb_build_object('agentId', own::text)
                                       ELSE t - 'agentCredential' END ORDER BY o), '[]')
        INTO traces FROM jsonb_array_elements(traces) WITH ORDINALITY AS x(t, o);
    END IF;
    r := execlave_api.ingest_traces(traces);
    SELECT coalesce(jsonb_agg(jsonb_build_object('index', e -> 'index', 'traceId', e -> 'traceId', 'status', e -> 'status',
               'code', execlave_api.error_code(e ->> 'code', (e ->> 'status')::integer), 'sqlstate', e -> 'code',
               'message', e -> 'message') ORDER BY o), '[]'),
           array_agg(DISTINCT (e ->> 'status')::integer)
    INTO errors, statuses FROM jsonb_array_elements(r -> 'errors') WITH ORDINALITY AS x(e, o);
    status := CASE WHEN (r ->> 'failed')::integer = 0 THEN 200
                   WHEN (r ->> 'accepted')::integer > 0 THEN 207
                   WHEN cardinality(statuses) = 1 THEN statuses[1]
                   ELSE 422 END;
    answer := jsonb_build_object('success', (r ->> 'failed')::integer = 0,
        'data', jsonb_build_object('accepted', r -> 'accepted', 'failed', r -> 'failed', 'errors', errors));
    IF (r ->> 'failed')::integer > 0 THEN
        answer := answer || jsonb_build_object('error', jsonb_build_object('code', 'traces_refused',
            'message', format('%s of %s traces refused (see data.errors)', r ->> 'failed', jsonb_array_length(traces))));
    END IF;
END
$$;
COMMENT ON FUNCTION execlave_api.http_ingest_traces(text, jsonb, jsonb) IS 'HTTP POST /api/traces/ingest: batch ingestion (up to 1000); 200 all accepted, 207 some refused, else the refusals'' status; {accepted, failed, errors}; admin keys, or an agent key for its own traces';

-- A handler's error as the hosted API answers it: (status, answer) of the
-- error's SQLSTATE, message, detail and hint as GET STACKED DIAGNOSTICS
-- gives them ('' when absent); parsing: the error is the body's.  Shared by
-- both dispatchers.
CREATE FUNCTION execlave_api.error_answer(st text, msg text, det text, hnt text, parsing boolean,
                                          OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    errj jsonb;
BEGIN
    IF st = 'PGRST' THEN            -- from the shared checks (require_admin, own_agent)
        errj := msg::jsonb;
        status := (det::jsonb ->> 'status')::integer;
        st := errj ->> 'code';
        msg := errj ->> 'message';
        hnt := errj ->> 'hint';
        det := errj ->> 'details';
    ELSE
        status := execlave_api.http_status(st);
    END IF;
    IF parsing THEN
        msg := CASE WHEN st = '22023' THEN msg ELSE 'the body is not valid JSON: ' || msg END;
    END IF;
    answer := execlave_api.error_body(CASE WHEN parsing THEN 'invalid_json' ELSE execlave_api.error_code(st, status) END,
                                      msg, st, hnt, det);
END
$$;
COMMENT ON FUNCTION execlave_api.error_answer(text, text, text, text, boolean) IS 'Internal: a handler''s error (SQLSTATE, message, detail, hint; parsing: the body''s) as the hosted API''s (status, answer)';

-- The hosted API's general dispatcher (execlave_api.dispatch, in C, serves
-- the hot routes itself and passes it every other request): the raw body
-- (as text/plain) and X-Execlave-Method, X-Execlave-Uri (raw) and
-- X-Execlave-Content-Type.  Route, method, key, body, then the handler in a
-- subtransaction; every answer is JSON with the status set for PostgREST.
CREATE FUNCTION execlave_api.dispatch_sql(text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    raw text := coalesce($1, '');
    headers jsonb := coalesce(nullif(current_setting('request.headers', true), '')::jsonb, '{}');
    method text := upper(coalesce(headers ->> 'x-execlave-method', 'POST'));
    uri text := coalesce(headers ->> 'x-execlave-uri', '/');
    path text := split_part(uri, '?', 1);
    qs text := CASE WHEN strpos(uri, '?') > 0 THEN substr(uri, strpos(uri, '?') + 1) ELSE '' END;
    routes constant jsonb := execlave_api.route_map();
    segs text[] := string_to_array(path, '/');
    tpl text;
    methods jsonb;
    rt jsonb;
    allowed text;
    handler text;
    keys text;
    path_id text;
    query jsonb;
    body jsonb := '{}';
    failure text;
    ctype text;
    status integer;
    answer jsonb;
    bad text;
    parsing boolean := false;
    st text; msg text; det text; hnt text;
BEGIN
    -- the route: /health, or /api[/v1]/ and one of the paths of routes(),
    -- literally or with an agent reference as the segment after "agents"
    -- (an approval request's id after "approvals")
    IF path = '/health' THEN
        tpl := path;
    ELSIF segs[2] = 'api' THEN
        segs := CASE WHEN segs[3] = 'v1' THEN segs[4:] ELSE segs[3:] END;
        IF cardinality(segs) BETWEEN 1 AND 3 AND '' <> ALL (segs) THEN
            tpl := '/api/' || array_to_string(segs, '/');
            IF strpos(tpl, '{') > 0 OR NOT routes ? tpl THEN
                tpl := NULL;
                IF segs[1] IN ('agents', 'approvals') AND cardinality(segs) >= 2 THEN
                    path_id := segs[2];
                    tpl := '/api/' || segs[1] || '/{id}' || coalesce('/' || segs[3], '');
                END IF;
            END IF;
        END IF;
    END IF;
    methods := routes -> tpl;
    IF methods IS NULL THEN
        RETURN execlave_api.respond(404, execlave_api.error_body('not_found', format('no route for %s %s', method, left(path, 200)),
            hint => 'See README.md, "HTTP API", for the routes.'));
    END IF;
    rt := methods -> method;
    IF rt IS NULL THEN
        allowed := (SELECT string_agg(m, ', ' ORDER BY m) FROM jsonb_object_keys(methods) m);
        RETURN execlave_api.respond(405, execlave_api.error_body('method_not_allowed',
            format('%s is not allowed on %s', method, left(path, 200)), hint => 'Allowed: ' || allowed || '.'),
            jsonb_build_object('Allow', allowed));
    END IF;
    handler := rt ->> 0;
    keys := rt ->> 1;
    -- the key
    IF keys <> 'none' THEN
        failure := execlave_api.authenticate(headers ->> 'x-api-key');
        IF failure IS NOT NULL THEN
            RETURN execlave_api.respond(401, execlave_api.error_body('unauthorized', failure, 'EX010',
                CASE WHEN failure = 'missing API key' THEN 'Send the key in the X-API-Key header or as Authorization: Bearer <key>.' END),
                '{"WWW-Authenticate": "Bearer realm=\"execlave\", ApiKey header=\"X-API-Key\""}');
        END IF;
        IF keys = 'admin' AND execlave_api.caller_scope() <> 'admin' THEN
            RETURN execlave_api.respond(403, execlave_api.error_body('forbidden', 'this operation needs an admin API key',
                '42501', 'The key is bound to one agent.'));
        END IF;
    END IF;
    -- the body's type; the query, the path's agent reference and the body are
    -- decoded in the handler's block (one subtransaction per request)
    IF method NOT IN ('GET', 'HEAD') AND btrim(raw, E' \t\r\n') <> '' THEN
        ctype := lower(btrim(split_part(coalesce(headers ->> 'x-execlave-content-type', ''), ';', 1)));
        IF ctype <> 'application/json' THEN
            RETURN execlave_api.respond(415, execlave_api.error_body('unsupported_media_type',
                format('the body must be JSON sent with Content-Type: application/json (got "%s")', left(ctype, 100))));
        END IF;
    ELSE
        raw := '';
    END IF;
    -- the handler: an error undoes what it wrote
    BEGIN
        query := execlave_api.query_params(qs);
        path_id := execlave_api.url_decode(path_id);
        IF query <> '{}' THEN
            bad := (SELECT k FROM jsonb_object_keys(query) k WHERE NOT (rt -> 2) ? k ORDER BY k LIMIT 1);
            IF bad IS NOT NULL THEN
                RAISE EXCEPTION 'unknown query parameter "%"', left(bad, 64) USING ERRCODE = 'invalid_parameter_value',
                    HINT = CASE WHEN rt -> 2 = '[]' THEN 'This call takes no query parameters.'
                                ELSE 'Parameters: ' || (SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(rt -> 2) x) || '.' END;
            END IF;
        END IF;
        IF raw <> '' THEN
            parsing := true;
            body := raw::jsonb;
            parsing := false;
            IF jsonb_typeof(body) <> 'object' THEN
                parsing := true;
                RAISE EXCEPTION 'the body must be a JSON object, not %', jsonb_typeof(body) USING ERRCODE = 'invalid_parameter_value';
            END IF;
        END IF;
        CASE handler
            WHEN 'health' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_health(path_id, query, body) h;
            WHEN 'register_agent' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_register_agent(path_id, query, body) h;
            WHEN 'list_agents' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_list_agents(path_id, query, body) h;
            WHEN 'authorize' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_authorize(path_id, query, body) h;
            WHEN 'get_agent' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_get_agent(path_id, query, body) h;
            WHEN 'status_poll' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_status_poll(path_id, query, body) h;
            WHEN 'heartbeat' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_heartbeat(path_id, query, body) h;
            WHEN 'pause_agent' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_pause_agent(path_id, query, body) h;
            WHEN 'resume_agent' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_resume_agent(path_id, query, body) h;
            WHEN 'create_grant' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_create_grant(path_id, query, body) h;
            WHEN 'create_webhook' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_create_webhook(path_id, query, body) h;
            WHEN 'enforce' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_enforce(path_id, query, body) h;
            WHEN 'ingest_traces' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_ingest_traces(path_id, query, body) h;
            WHEN 'list_approvals' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_list_approvals(path_id, query, body) h;
            WHEN 'get_approval' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_get_approval(path_id, query, body) h;
            WHEN 'verify_approval' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_verify_approval(path_id, query, body) h;
            WHEN 'approve_approval' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_approve_approval(path_id, query, body) h;
            WHEN 'deny_approval' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_deny_approval(path_id, query, body) h;
        END CASE;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
        SELECT e.status, e.answer INTO status, answer FROM execlave_api.error_answer(st, msg, det, hnt, parsing) e;
    END;
    RETURN execlave_api.respond(status, answer);
END
$$;
COMMENT ON FUNCTION execlave_api.dispatch_sql(text) IS 'Internal: the hosted API''s general dispatcher (every request execlave_api.dispatch does not serve itself): routes on X-Execlave-Method and X-Execlave-Uri (execlave_api.routes()), authenticates X-API-Key, parses the JSON body, runs the handler; hosted-shaped JSON answers';

-- The hosted API's entry point (src/http_dispatch.c): the hot routes (POST
-- authorize, enforce and trace ingest, no query string) in one C call with
-- the same checks, answers and records as dispatch_sql; every other request,
-- and every one refused before its handler, through dispatch_sql.
CREATE FUNCTION execlave_api.dispatch(text) RETURNS jsonb
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS 'MODULE_PATHNAME', 'execlave_http_dispatch';
COMMENT ON FUNCTION execlave_api.dispatch(text) IS 'HTTP: the hosted API (/api, /api/v1, /health) as nginx forwards it: routes on X-Execlave-Method and X-Execlave-Uri (execlave_api.routes()), authenticates X-API-Key, parses the JSON body, runs the handler; hosted-shaped JSON answers';

REVOKE ALL ON FUNCTION execlave_api.authenticate(text), execlave_api.authorize_decision(text, text, text),
    execlave_api.routes(), execlave_api.route_map(), execlave_api.url_decode(text, boolean), execlave_api.query_params(text),
    execlave_api.check_fields(jsonb, jsonb), execlave_api.required(jsonb, text), execlave_api.text_array(jsonb, text),
    execlave_api.error_code(text, integer), execlave_api.error_body(text, text, text, text, text),
    execlave_api.respond(integer, jsonb, jsonb), execlave_api.hosted_agent(uuid),
    execlave_api.http_health(text, jsonb, jsonb), execlave_api.http_register_agent(text, jsonb, jsonb),
    execlave_api.http_list_agents(text, jsonb, jsonb), execlave_api.http_get_agent(text, jsonb, jsonb),
    execlave_api.http_status_poll(text, jsonb, jsonb), execlave_api.http_heartbeat(text, jsonb, jsonb),
    execlave_api.http_pause_agent(text, jsonb, jsonb), execlave_api.http_resume_agent(text, jsonb, jsonb),
    execlave_api.http_create_grant(text, jsonb, jsonb), execlave_api.http_authorize(text, jsonb, jsonb),
    execlave_api.http_create_webhook(text, jsonb, jsonb), execlave_api.http_enforce(text, jsonb, jsonb),
    execlave_api.http_ingest_traces(text, jsonb, jsonb), execlave_api.error_answer(text, text, text, text, boolean),
    execlave_api.enforce_answer(uuid, jsonb), execlave_api.authorize_answer(boolean, text, uuid, text, text, text),
    execlave_api.key_by_prefix(text), execlave_api.key_used(uuid), execlave_api.dispatch_sql(text), execlave_api.dispatch(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave_api.dispatch(text) TO execlave_api_anon;
