CREATE SCHEMA execlave_api;
-- The API functions that call the execlave_* functions put the extension's
-- schema on their pinned search_path after pg_catalog (that schema is fixed
-- at CREATE EXTENSION, and PostgreSQL 15 gives PUBLIC no CREATE on it):
-- naming it in the bodies would put @extschema@ inside quoted strings.
COMMENT ON SCHEMA execlave_api IS 'The HTTP API: what PostgREST exposes (db-schemas = execlave_api, db-pre-request = execlave_api.pre_request)';

-- Raise an HTTP error the PostgREST way: SQLSTATE PGRST, JSON message {code,
-- message, details, hint} (strings) and JSON detail {status, headers}.
CREATE FUNCTION execlave_api.fail(status integer, code text, message text, details text DEFAULT NULL,
                                  hint text DEFAULT NULL, headers jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE SQLSTATE 'PGRST'
        USING MESSAGE = json_build_object('code', code, 'message', message, 'details', details, 'hint', hint)::text,
              DETAIL = json_build_object('status', status, 'headers', headers)::text;
END
$$;
COMMENT ON FUNCTION execlave_api.fail(integer, text, text, text, text, jsonb) IS 'Internal: raise an HTTP error with this status for PostgREST (SQLSTATE PGRST)';

-- The HTTP status of an execlave error (the SQL-level SQLSTATEs stay as they are).
CREATE FUNCTION execlave_api.http_status(sqlstate text) RETURNS integer
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE
        WHEN sqlstate = 'EX001' THEN 423                       -- agent paused
        WHEN sqlstate = 'EX003' THEN 403                       -- blocked by a policy
        WHEN sqlstate IN ('EX002', 'EX005', 'EX006', 'EX007', 'EX008', 'EX009') THEN 404
        WHEN sqlstate = 'EX004' THEN 409                       -- agent archived
        WHEN sqlstate IN ('23505', '23503', '55000') THEN 409  -- conflict
        WHEN sqlstate = '42501' THEN 403
        WHEN sqlstate LIKE '22%' OR sqlstate IN ('23502', '23514', '42804', '42883', 'P0001') THEN 400
        WHEN sqlstate IN ('53400', '53300') THEN 503
        ELSE 500
    END
$$;
COMMENT ON FUNCTION execlave_api.http_status(text) IS 'HTTP status of a SQLSTATE in the HTTP API (README: Errors over HTTP)';

-- Re-raise a caught error as its HTTP error (a PGRST error passes unchanged).
CREATE FUNCTION execlave_api.reraise(state text, message text, detail text, hint text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF state = 'PGRST' THEN
        RAISE SQLSTATE 'PGRST' USING MESSAGE = message, DETAIL = detail;
    END IF;
    PERFORM execlave_api.fail(execlave_api.http_status(state), state, message, nullif(detail, ''), nullif(hint, ''));
END
$$;
COMMENT ON FUNCTION execlave_api.reraise(text, text, text, text) IS 'Internal: turn a caught SQL error into its HTTP error';

-- PostgREST's db-pre-request: authenticate the X-API-Key header.
CREATE FUNCTION execlave_api.pre_request() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    headers json := nullif(current_setting('request.headers', true), '')::json;
    key text := headers ->> 'x-api-key';
    parts text[];
    k execlave.api_keys;
    ok boolean;
    auth jsonb := '{"WWW-Authenticate": "ApiKey header=\"X-API-Key\""}';
BEGIN
    IF key IS NULL OR key = '' THEN
        PERFORM execlave_api.fail(401, 'EX010', 'missing API key', NULL, 'Send the key in the X-API-Key header.', auth);
    END IF;
    parts := regexp_match(key, '^(ag_[a-z0-9]{1,16}_)([A-Za-z0-9]{32,128})$');
    IF parts IS NOT NULL THEN
        SELECT * INTO k FROM execlave.api_keys x WHERE x.key_prefix = parts[1] || left(parts[2], 8);
    END IF;
    -- the digest comparison runs whether or not a key was found (constant time)
    ok := execlave.api_key_matches(k.key_hash, key);
    IF NOT ok OR parts IS NULL THEN
        PERFORM execlave_api.fail(401, 'EX010', 'invalid API key', NULL, NULL, auth);
    ELSIF k.revoked_at IS NOT NULL THEN
        PERFORM execlave_api.fail(401, 'EX010', 'API key revoked', NULL, NULL, auth);
    ELSIF k.expires_at <= now() THEN
        PERFORM execlave_api.fail(401, 'EX010', 'API key expired', NULL, NULL, auth);
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
END
$$;
COMMENT ON FUNCTION execlave_api.pre_request() IS 'PostgREST db-pre-request: checks X-API-Key (exists, not revoked, not expired; constant-time hash comparison) and sets the caller for the request; 401 otherwise';

-- The caller of this request (set by pre_request); '' when none.  Read
-- through C (see apikeys.c): never current_setting(), which a client could
-- feed a placeholder value before the library is loaded.
CREATE FUNCTION execlave_api.caller_scope() RETURNS text
LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'execlave_api_caller_scope';
CREATE FUNCTION execlave.api_caller_agent() RETURNS uuid
LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'execlave_api_caller_agent';
COMMENT ON FUNCTION execlave.api_caller_agent() IS 'Internal: the agent of the current HTTP request''s agent-scoped API key, or NULL';
COMMENT ON FUNCTION execlave_api.caller_scope() IS 'Scope of the request''s API key: admin, agent, or empty outside a request';

CREATE FUNCTION execlave_api.require_admin() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF execlave_api.caller_scope() NOT IN ('admin', 'agent') THEN
        PERFORM execlave_api.fail(401, 'EX010', 'no API key authenticated this request');
    ELSIF execlave_api.caller_scope() <> 'admin' THEN
        PERFORM execlave_api.fail(403, '42501', 'this operation needs an admin API key',
            'the key is bound to one agent');
    END IF;
END
$$;
COMMENT ON FUNCTION execlave_api.require_admin() IS 'Internal: 403 unless the request''s key is an admin key';

-- Resolve an agent the caller may act as: any for an admin key, its own for an agent key.
CREATE FUNCTION execlave_api.own_agent(agent text, what text) RETURNS uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    scope text := execlave_api.caller_scope();
    own uuid := execlave.api_caller_agent();
    id uuid;
BEGIN
    IF scope NOT IN ('admin', 'agent') THEN
        PERFORM execlave_api.fail(401, 'EX010', 'no API key authenticated this request');
    END IF;
    BEGIN
        id := execlave.resolve_agent(agent);
    EXCEPTION WHEN SQLSTATE 'EX002' THEN
        IF scope = 'admin' THEN
            RAISE;
        END IF;
        id := NULL;             -- an agent key learns nothing about other agents
    END;
    IF scope = 'agent' AND (id IS NULL OR own IS NULL OR id <> own) THEN
        PERFORM execlave_api.fail(403, '42501', format('this API key may not %s for agent "%s"', what, agent),
            'the key is bound to another agent');
    END IF;
    RETURN id;
END
$$;
COMMENT ON FUNCTION execlave_api.own_agent(text, text) IS 'Internal: the agent''s id if the request''s key may act for it (admin: any; agent key: its own), else 403';

CREATE FUNCTION execlave_api.agent_json(agent uuid) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('id', a.id, 'key', a.key, 'name', a.name, 'status', a.status,
        'pauseReason', a.pause_reason, 'pausedAt', a.paused_at, 'pausedBy', a.paused_by,
        'statusChangedAt', a.status_changed_at, 'createdAt', a.created_at)
    FROM execlave.agents a WHERE a.id = agent
$$;
COMMENT ON FUNCTION execlave_api.agent_json(uuid) IS 'Internal: an agent as the HTTP API shows it';

-- PATCH /api/agents/ID/pause  ->  POST /rpc/pause_agent {"agentId", "reason"}
CREATE FUNCTION execlave_api.pause_agent("agentId" text, reason text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, @extschema@, pg_temp AS $$
DECLARE
    id uuid;
    changed boolean;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    changed := execlave_pause_agent("agentId", reason);
    id := execlave.resolve_agent("agentId");
    RETURN jsonb_build_object('agent', execlave_api.agent_json(id), 'changed', changed);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.pause_agent(text, text) IS 'HTTP: pause an agent (kill switch); admin keys';

-- PATCH /api/agents/ID/resume  ->  POST /rpc/resume_agent {"agentId"}
CREATE FUNCTION execlave_api.resume_agent("agentId" text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, @extschema@, pg_temp AS $$
DECLARE
    changed boolean;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    changed := execlave_resume_agent("agentId");
    RETURN jsonb_build_object('agent', execlave_api.agent_json(execlave.resolve_agent("agentId")), 'changed', changed);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.resume_agent(text) IS 'HTTP: resume a paused agent; admin keys';

-- GET /api/agents/ID/status  ->  POST /rpc/agent_status {"agentId"}
CREATE FUNCTION execlave_api.agent_status("agentId" text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st text; msg text; det text; hnt text;
BEGIN
    RETURN execlave_api.agent_json(execlave_api.own_agent("agentId", 'read the status'));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.agent_status(text) IS 'HTTP: an agent''s status; admin keys, or the agent''s own key';

-- POST /api/agents  ->  POST /rpc/register_agent {"key", "name", "description", "tags", "metadata"}
CREATE FUNCTION execlave_api.register_agent(key text, name text DEFAULT NULL, description text DEFAULT NULL,
                                            tags text[] DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, @extschema@, pg_temp AS $$
DECLARE
    id uuid;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    id := execlave_register_agent(key, name, description, coalesce(tags, '{}'), coalesce(metadata, '{}'));
    RETURN execlave_api.agent_json(id);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.register_agent(text, text, text, text[], jsonb) IS 'HTTP: register an agent (idempotent on key); admin keys';

-- POST /api/agents/A/grants  ->  POST /rpc/create_grant {"agentId", "targetAgentId", "allowedActions", "expiresAt"}
CREATE FUNCTION execlave_api.create_grant("agentId" text, "targetAgentId" text, "allowedActions" text[],
                                          "expiresAt" timestamptz DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, @extschema@, pg_temp AS $$
DECLARE
    gid uuid;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    gid := execlave_grant("agentId", "targetAgentId", "allowedActions", "expiresAt");
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
COMMENT ON FUNCTION execlave_api.create_grant(text, text, text[], timestamptz) IS 'HTTP: grant the agent (source) actions on the target agent until expiresAt; admin keys';

-- POST /api/agents/authorize  ->  POST /rpc/authorize {"sourceAgentId", "targetAgentId", "action"[, "raiseOnDeny"]}
CREATE FUNCTION execlave_api.authorize("sourceAgentId" text, "targetAgentId" text, action text,
                                       "raiseOnDeny" boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, @extschema@, pg_temp AS $$
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
    SELECT * INTO r FROM execlave_authorize_explain("sourceAgentId", "targetAgentId", action);
    answer := jsonb_build_object('authorized', r.authorized, 'reason', r.reason,
        'grant', CASE WHEN r.grant_id IS NULL THEN NULL
                      ELSE jsonb_build_object('id', r.grant_id, 'expiresAt', r.expires_at) END);
    IF NOT r.authorized AND coalesce("raiseOnDeny", false) THEN
        PERFORM execlave_api.fail(403, 'EX011', format('agent "%s" may not %s agent "%s"', "sourceAgentId", action, "targetAgentId"),
            answer::text, 'reason: ' || r.reason);
    END IF;
    RETURN answer;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.authorize(text, text, text, boolean) IS 'HTTP: may the source agent perform the action on the target? {authorized, reason, grant}; raiseOnDeny: 403 instead of authorized false. Admin keys, or the source agent''s own key';

-- POST /api/webhooks  ->  POST /rpc/create_webhook {"url", "events", "secret"}
CREATE FUNCTION execlave_api.create_webhook(url text, events text[] DEFAULT NULL, secret text DEFAULT NULL,
                                            description text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, @extschema@, pg_temp AS $$
DECLARE
    w record;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    SET LOCAL client_min_messages = error;      -- the worker warning is for SQL users
    SELECT * INTO w FROM execlave_create_webhook(url, events, secret, description);
    RETURN (SELECT jsonb_build_object('id', x.id, 'url', x.url, 'events', coalesce(to_jsonb(x.events), '["*"]'),
                'secret', w.signing_secret, 'active', x.active, 'createdAt', x.created_at)
            FROM execlave.webhooks x WHERE x.id = w.id);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.create_webhook(text, text[], text, text) IS 'HTTP: register a webhook endpoint; the answer carries its signing secret (this once); admin keys';

-- POST /api/policies  ->  POST /rpc/create_policy {"name", "type", "mode", "config", "agentIds"}
CREATE FUNCTION execlave_api.create_policy(name text, type text, mode text, config jsonb DEFAULT '{}',
                                           "agentIds" text[] DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, @extschema@, pg_temp AS $$
DECLARE
    pid uuid;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    pid := execlave_create_policy(name, type, mode, coalesce(config, '{}'), "agentIds");
    RETURN (SELECT jsonb_build_object('id', p.id, 'name', p.name, 'type', p.type, 'mode', p.mode, 'config', p.config,
                'agentIds', to_jsonb(p.agent_ids), 'active', p.active, 'createdAt', p.created_at)
            FROM execlave.policies p WHERE p.id = pid);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.create_policy(text, text, text, jsonb, text[]) IS 'HTTP: create a policy; admin keys';

-- POST /api/enforce  ->  POST /rpc/enforce {"agentId", "input", "model", "estimatedCost", "tools", "metadata", "environment"}
CREATE FUNCTION execlave_api.enforce("agentId" text, input text, model text DEFAULT NULL,
                                     "estimatedCost" numeric DEFAULT NULL, tools text[] DEFAULT NULL,
                                     metadata jsonb DEFAULT NULL, environment text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, @extschema@, pg_temp AS $$
DECLARE
    r jsonb;
    answer jsonb;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.own_agent("agentId", 'run a pre-execution check');
    r := execlave_enforce("agentId", input, model, "estimatedCost", tools,
                          CASE WHEN environment IS NULL THEN metadata
                               ELSE coalesce(metadata, '{}') || jsonb_build_object('environment', environment) END);
    answer := jsonb_build_object('allowed', r->'allowed',
        'violations', coalesce((SELECT jsonb_agg(jsonb_build_object('policyId', v->'policy_id', 'policyName', v->'policy_name',
                                   'type', v->'type', 'message', v->'message', 'mode', v->'mode', 'details', v->'details'))
                                FROM jsonb_array_elements(r->'violations') v), '[]'),
        'warnings', r->'warnings');
    IF NOT (r->>'allowed')::boolean THEN
        IF EXISTS (SELECT 1 FROM jsonb_array_elements(r->'violations') v WHERE v->>'type' = 'system')
           AND (SELECT a.status FROM execlave.agents a WHERE a.id = execlave.resolve_agent("agentId")) = 'paused' THEN
            PERFORM execlave_api.fail(423, 'EX001',
                coalesce((SELECT v->>'message' FROM jsonb_array_elements(r->'violations') v WHERE v->>'type' = 'system' LIMIT 1),
                         'agent is paused'), answer::text,
                'Resume the agent to let its requests through.');
        END IF;
        PERFORM execlave_api.fail(403, 'EX003', 'request blocked by policy', answer::text, NULL);
    END IF;
    RETURN answer;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.enforce(text, text, text, numeric, text[], jsonb, text) IS 'HTTP: pre-execution check. 200 {allowed, violations, warnings}; 403 when blocked and 423 when the agent is paused (the answer in details). Admin keys, or the agent''s own key';

-- POST /api/traces/batch  ->  POST /rpc/ingest_traces {"traces": [{...}, ...]}
CREATE FUNCTION execlave_api.ingest_traces(traces jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
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
    IF execlave_api.caller_scope() = '' THEN
        PERFORM execlave_api.fail(401, 'EX010', 'no API key authenticated this request');
    END IF;
    IF traces IS NULL OR jsonb_typeof(traces) <> 'array' THEN
        PERFORM execlave_api.fail(400, '22023', 'traces must be a JSON array of trace objects');
    END IF;
    IF jsonb_array_length(traces) > 1000 THEN
        PERFORM execlave_api.fail(400, '22023', 'at most 1000 traces per batch');
    END IF;
    FOR t IN SELECT e FROM jsonb_array_elements(traces) e LOOP
        tid := NULL;
        BEGIN
            IF jsonb_typeof(t) <> 'object' THEN
                RAISE EXCEPTION 'trace % is not a JSON object', i USING ERRCODE = 'invalid_parameter_value';
            END IF;
            tid := t->>'traceId';
            row_trace := '{}';
            FOR k IN SELECT jsonb_object_keys(t) LOOP
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
COMMENT ON FUNCTION execlave_api.ingest_traces(jsonb) IS 'HTTP: batch trace ingestion (up to 1000); each trace in its own subtransaction; answers {accepted, failed, errors[{index, traceId, status, code, message}]}. Admin keys, or an agent key for its own traces';

-- Listing views: admin keys only (an agent key sees no rows); never a secret.
CREATE VIEW execlave_api.agents WITH (security_barrier) AS
SELECT a.id, a.key, a.name, a.description, a.status, a.pause_reason AS "pauseReason", a.paused_at AS "pausedAt",
       a.paused_by AS "pausedBy", a.tags, a.metadata, a.created_at AS "createdAt", a.updated_at AS "updatedAt"
FROM execlave.agents a WHERE execlave_api.caller_scope() = 'admin';
COMMENT ON VIEW execlave_api.agents IS 'HTTP GET /agents: agents (admin keys)';
CREATE VIEW execlave_api.grants WITH (security_barrier) AS
SELECT g.id, g.source_id AS "sourceAgentId", g.target_id AS "targetAgentId", g.actions AS "allowedActions",
       g.expires_at AS "expiresAt", g.created_at AS "createdAt", g.created_by AS "createdBy",
       g.revoked_at AS "revokedAt", g.revoked_by AS "revokedBy",
       (g.revoked_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now())) AS live
FROM execlave.grants g WHERE execlave_api.caller_scope() = 'admin';
COMMENT ON VIEW execlave_api.grants IS 'HTTP GET /grants: agent-to-agent grants (admin keys)';
CREATE VIEW execlave_api.policies WITH (security_barrier) AS
SELECT p.id, p.name, p.type, p.mode, p.config, p.agent_ids AS "agentIds", p.active, p.metadata,
       p.created_at AS "createdAt", p.updated_at AS "updatedAt"
FROM execlave.policies p WHERE execlave_api.caller_scope() = 'admin';
COMMENT ON VIEW execlave_api.policies IS 'HTTP GET /policies: policies (admin keys)';
CREATE VIEW execlave_api.violations WITH (security_barrier) AS
SELECT v.id, v.policy_id AS "policyId", v.policy_name AS "policyName", v.policy_type AS "policyType", v.mode,
       v.agent_id AS "agentId", v.agent_key AS "agentKey", v.trace_id AS "traceId", v.phase, v.message, v.details,
       v.created_at AS "createdAt"
FROM execlave.violations v WHERE execlave_api.caller_scope() = 'admin';
COMMENT ON VIEW execlave_api.violations IS 'HTTP GET /violations: policy violations (admin keys)';
CREATE VIEW execlave_api.webhooks WITH (security_barrier) AS
SELECT w.id, w.url, coalesce(w.events, ARRAY['*']) AS events, w.active, w.description, w.created_at AS "createdAt",
       w.disabled_at AS "disabledAt", w.disabled_reason AS "disabledReason"
FROM execlave.webhooks w WHERE execlave_api.caller_scope() = 'admin';
COMMENT ON VIEW execlave_api.webhooks IS 'HTTP GET /webhooks: webhook endpoints, never their secrets (admin keys)';
CREATE VIEW execlave_api.deliveries WITH (security_barrier) AS
SELECT d.id, d.webhook_id AS "webhookId", d.event_id AS "eventId", d.event_type AS "eventType", d.status,
       d.attempts, d.next_attempt_at AS "nextAttemptAt", d.last_attempt_at AS "lastAttemptAt",
       d.last_status_code AS "lastStatusCode", d.last_error AS "lastError", d.delivered_at AS "deliveredAt",
       d.created_at AS "createdAt"
FROM execlave.deliveries d WHERE execlave_api.caller_scope() = 'admin';
COMMENT ON VIEW execlave_api.deliveries IS 'HTTP GET /deliveries: webhook deliveries (admin keys)';

-- PostgREST's anonymous role (db-anon-role): every HTTP request runs as it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'execlave_api_anon') THEN
        CREATE ROLE execlave_api_anon NOLOGIN;
    END IF;
END
$$;

