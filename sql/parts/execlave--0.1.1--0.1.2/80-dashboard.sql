
-------------------------------------------------------------------------------
-- The dashboard's API (POST /rest/rpc/dashboard_*)
-------------------------------------------------------------------------------
-- What the dashboard (web/, served by nginx at /) shows that the other calls
-- do not give: paged lists with totals, the status history, counts per hour
-- and cost per day, the per-agent usage against its limits, the webhooks'
-- health and their dead deliveries, and the API keys.  Every function needs
-- an admin key (require_admin: 401 without a key, 403 for an agent key) and
-- answers JSON; an error becomes its HTTP error (reraise).  Lists take
-- "limit" (1-500, 50) and "offset" (0-1000000) and answer {total, limit,
-- offset, items}; where counting could cost a scan of a large table
-- (violations, traces, deliveries) total stops at 10001 and totalCapped says so.

-- Check a page's limit and offset (22023 otherwise).
CREATE FUNCTION execlave_api.dashboard_page(lim integer, off integer) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF lim IS NULL OR lim NOT BETWEEN 1 AND 500 THEN
        RAISE EXCEPTION 'limit must be from 1 to 500' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF off IS NULL OR off NOT BETWEEN 0 AND 1000000 THEN
        RAISE EXCEPTION 'offset must be from 0 to 1000000' USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_page(integer, integer) IS 'Internal: 22023 unless limit is 1-500 and offset 0-1000000';

-- The start of the current UTC day.
CREATE FUNCTION execlave_api.dashboard_today() RETURNS timestamptz
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_today() IS 'Internal: the start of the current UTC day';

-- Who is signed in: the key's name, scope, environment and expiry.
CREATE FUNCTION execlave_api.dashboard_session() RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    RETURN (SELECT jsonb_build_object('keyId', k.id, 'name', k.name, 'scope', k.scope, 'environment', k.environment,
                'keyPrefix', k.key_prefix, 'expiresAt', k.expires_at, 'actor', 'api:' || k.name,
                'version', (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'execlave'))
            FROM execlave.api_keys k WHERE k.id = current_setting('execlave.api_key_id')::uuid);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_session() IS 'HTTP (dashboard): the signed-in key: {keyId, name, scope, environment, keyPrefix, expiresAt, actor, version}; admin keys';

-- Agents, by key, whose key or name contains search (any case), of one
-- status; each with its last trace, traces and cost today (UTC) and
-- violations in the last 24 hours.
CREATE FUNCTION execlave_api.dashboard_agents(search text DEFAULT NULL, status text DEFAULT NULL,
                                              "limit" integer DEFAULT 50, "offset" integer DEFAULT 0)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s text := lower(nullif(search, ''));
    want text := nullif(status, '');
    today timestamptz := execlave_api.dashboard_today();
    total bigint;
    items jsonb;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    PERFORM execlave_api.dashboard_page("limit", "offset");
    IF want IS NOT NULL AND want NOT IN ('active', 'paused', 'inactive', 'archived') THEN
        RAISE EXCEPTION 'invalid status "%"', left(want, 64) USING ERRCODE = 'invalid_parameter_value',
            HINT = 'One of active, paused, inactive, archived.';
    END IF;
    SELECT count(*) INTO total FROM execlave.agents a
    WHERE (s IS NULL OR strpos(lower(a.key), s) > 0 OR strpos(lower(coalesce(a.name, '')), s) > 0)
      AND (want IS NULL OR a.status = want);
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', p.id, 'key', p.key, 'name', p.name, 'status', p.status,
               'pauseReason', p.pause_reason, 'pausedAt', p.paused_at, 'pausedBy', p.paused_by,
               'statusChangedAt', p.status_changed_at, 'tags', to_jsonb(p.tags),
               'lastTraceAt', (SELECT max(t.started_at) FROM execlave.traces t
                               WHERE t.agent_id = p.id AND t.started_at > now() - interval '30 days'),
               'tracesToday', td.n, 'costToday', td.cost,
               'violations24h', (SELECT count(*) FROM execlave.violations v
                                 WHERE v.agent_id = p.id AND v.created_at > now() - interval '24 hours'))
               ORDER BY p.key), '[]')
    INTO items
    FROM (SELECT a.* FROM execlave.agents a
          WHERE (s IS NULL OR strpos(lower(a.key), s) > 0 OR strpos(lower(coalesce(a.name, '')), s) > 0)
            AND (want IS NULL OR a.status = want)
          ORDER BY a.key LIMIT "limit" OFFSET "offset") p
    CROSS JOIN LATERAL (SELECT count(*) AS n, coalesce(sum(t.cost_usd), 0) AS cost FROM execlave.traces t
                        WHERE t.agent_id = p.id AND t.started_at >= today) td;
    RETURN jsonb_build_object('total', total, 'limit', "limit", 'offset', "offset", 'items', items);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_agents(text, text, integer, integer) IS 'HTTP (dashboard): agents by key, filtered by search (key or name, any case) and status, each with lastTraceAt, tracesToday, costToday (UTC day), violations24h; {total, limit, offset, items}; admin keys';

-- The statuses of some agents (what the open page polls, once a second).
CREATE FUNCTION execlave_api.dashboard_statuses(ids uuid[]) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    IF cardinality(ids) > 500 THEN
        RAISE EXCEPTION 'at most 500 ids' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN (SELECT coalesce(jsonb_object_agg(a.id, jsonb_build_object('status', a.status, 'pauseReason', a.pause_reason,
                'pausedAt', a.paused_at, 'pausedBy', a.paused_by, 'statusChangedAt', a.status_changed_at)), '{}')
            FROM execlave.agents a WHERE a.id = ANY (coalesce(ids, '{}')));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_statuses(uuid[]) IS 'HTTP (dashboard): {id: {status, pauseReason, pausedAt, pausedBy, statusChangedAt}} of at most 500 agents (unknown ids are absent); admin keys';

-- One agent: its row, usage against the limits of the policies that apply
-- to it, anomaly baseline, grants from and to it, and those policies.
CREATE FUNCTION execlave_api.dashboard_agent("agentId" text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    aid uuid;
    usage jsonb;
    baseline jsonb;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    aid := execlave.resolve_agent("agentId");
    -- the windowed counters live in shared memory (preloading only)
    BEGIN
        SELECT jsonb_object_agg(u.period, jsonb_build_object('periodStart', u.period_start, 'requests', u.requests,
                   'spendUsd', u.spend_usd)) INTO usage FROM execlave.usage(aid::text) u;
        SELECT coalesce(jsonb_agg(jsonb_build_object('metric', b.metric, 'observations', b.observations,
                   'mean', b.mean, 'stddev', b.stddev) ORDER BY b.metric), '[]') INTO baseline
        FROM execlave.anomaly_baseline(aid::text) b;
    EXCEPTION WHEN SQLSTATE '55000' THEN
        usage := NULL;
        baseline := NULL;
    END;
    RETURN (SELECT jsonb_build_object('id', a.id, 'key', a.key, 'name', a.name, 'description', a.description,
        'status', a.status, 'pauseReason', a.pause_reason, 'pausedAt', a.paused_at, 'pausedBy', a.paused_by,
        'statusChangedAt', a.status_changed_at, 'statusChangedBy', a.status_changed_by, 'tags', to_jsonb(a.tags),
        'metadata', a.metadata, 'createdAt', a.created_at, 'usage', usage, 'anomalyBaseline', baseline,
        'policies', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', p.id, 'name', p.name, 'type', p.type,
                         'mode', p.mode, 'config', p.config, 'active', p.active, 'allAgents', p.agent_ids IS NULL)
                         ORDER BY p.name), '[]')
                     FROM execlave.policies p WHERE p.agent_ids IS NULL OR a.id = ANY (p.agent_ids)),
        'grantsFrom', (SELECT coalesce(jsonb_agg(execlave_api.dashboard_grant_json(g.id) ORDER BY g.created_at DESC), '[]')
                       FROM execlave.grants g WHERE g.source_id = a.id AND g.revoked_at IS NULL
                         AND (g.expires_at IS NULL OR g.expires_at > now())),
        'grantsTo', (SELECT coalesce(jsonb_agg(execlave_api.dashboard_grant_json(g.id) ORDER BY g.created_at DESC), '[]')
                     FROM execlave.grants g WHERE g.target_id = a.id AND g.revoked_at IS NULL
                       AND (g.expires_at IS NULL OR g.expires_at > now())))
    FROM execlave.agents a WHERE a.id = aid);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;

-- A grant as the dashboard shows it.
CREATE FUNCTION execlave_api.dashboard_grant_json(grant_id uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('id', g.id, 'sourceAgentId', g.source_id, 'sourceAgentKey', s.key,
                'targetAgentId', g.target_id, 'targetAgentKey', t.key, 'allowedActions', to_jsonb(g.actions),
                'expiresAt', g.expires_at, 'createdAt', g.created_at, 'createdBy', g.created_by,
                'revokedAt', g.revoked_at, 'revokedBy', g.revoked_by)
            FROM execlave.grants g JOIN execlave.agents s ON s.id = g.source_id JOIN execlave.agents t ON t.id = g.target_id
            WHERE g.id = grant_id);
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_grant_json(uuid) IS 'Internal: a grant with its agents'' keys';
COMMENT ON FUNCTION execlave_api.dashboard_agent(text) IS 'HTTP (dashboard): one agent (UUID or key) with usage (execlave_usage by period; null without preloading), anomalyBaseline, the policies that apply to it, and its live grantsFrom and grantsTo; admin keys';

-- An agent's status history, newest first.
CREATE FUNCTION execlave_api.dashboard_status_history("agentId" text, "limit" integer DEFAULT 50,
                                                      "offset" integer DEFAULT 0)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    aid uuid;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    PERFORM execlave_api.dashboard_page("limit", "offset");
    aid := execlave.resolve_agent("agentId");
    RETURN jsonb_build_object(
        'total', (SELECT count(*) FROM execlave.agent_status_history h WHERE h.agent_id = aid),
        'limit', "limit", 'offset', "offset",
        'items', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', x.id, 'oldStatus', x.old_status,
                      'newStatus', x.new_status, 'reason', x.reason, 'changedBy', x.changed_by, 'changedAt', x.changed_at)
                      ORDER BY x.changed_at DESC, x.id DESC), '[]')
                  FROM (SELECT h.* FROM execlave.agent_status_history h WHERE h.agent_id = aid
                        ORDER BY h.changed_at DESC, h.id DESC LIMIT "limit" OFFSET "offset") x));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_status_history(text, integer, integer) IS 'HTTP (dashboard): an agent''s status changes, newest first: {id, oldStatus, newStatus, reason, changedBy, changedAt}; paged; admin keys';

-- An agent's traces, newest first (input and output as stored: masked by
-- pii_detection policies with mask; each cut to 2000 characters).
CREATE FUNCTION execlave_api.dashboard_traces("agentId" text, "limit" integer DEFAULT 50, "offset" integer DEFAULT 0)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    aid uuid;
    total bigint;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    PERFORM execlave_api.dashboard_page("limit", "offset");
    aid := execlave.resolve_agent("agentId");
    SELECT count(*) INTO total FROM (SELECT 1 FROM execlave.traces t WHERE t.agent_id = aid LIMIT 10001) c;
    RETURN jsonb_build_object('total', total, 'totalCapped', total > 10000, 'limit', "limit", 'offset', "offset",
        'items', (SELECT coalesce(jsonb_agg(jsonb_build_object('traceId', x.trace_id, 'startedAt', x.started_at,
                      'status', x.status, 'model', x.model, 'durationMs', x.duration_ms, 'totalTokens', x.total_tokens,
                      'costUsd', x.cost_usd, 'tools', to_jsonb(x.tools), 'input', left(x.input, 2000),
                      'output', left(x.output, 2000), 'errorMessage', x.error_message)
                      ORDER BY x.started_at DESC, x.trace_id), '[]')
                  FROM (SELECT t.* FROM execlave.traces t WHERE t.agent_id = aid
                        ORDER BY t.started_at DESC, t.trace_id LIMIT "limit" OFFSET "offset") x));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_traces(text, integer, integer) IS 'HTTP (dashboard): an agent''s traces, newest first, input and output as stored (cut to 2000 characters); total counted up to 10001 (totalCapped); admin keys';

-- An agent's cost and traces per UTC day over the last days (1-90), with
-- the daily cap of its active cost_limit policies (the lowest) and the
-- monthly one of its budget_cap policies.
CREATE FUNCTION execlave_api.dashboard_cost_per_day("agentId" text, days integer DEFAULT 14) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    aid uuid;
    first_day timestamptz;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    IF days IS NULL OR days NOT BETWEEN 1 AND 90 THEN
        RAISE EXCEPTION 'days must be from 1 to 90' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    aid := execlave.resolve_agent("agentId");
    first_day := execlave_api.dashboard_today() - (days - 1) * interval '1 day';
    RETURN jsonb_build_object(
        'dailyCap', (SELECT min((p.config ->> 'max_cost_per_day')::numeric) FROM execlave.policies p
                     WHERE p.active AND p.type = 'cost_limit' AND p.config ? 'max_cost_per_day'
                       AND (p.agent_ids IS NULL OR aid = ANY (p.agent_ids))),
        'monthlyCap', (SELECT min((p.config ->> 'max_cost_per_month')::numeric) FROM execlave.policies p
                       WHERE p.active AND p.type = 'budget_cap' AND (p.agent_ids IS NULL OR aid = ANY (p.agent_ids))),
        'days', (WITH RECURSIVE d(day) AS (
                     SELECT first_day
                     UNION ALL
                     SELECT d.day + interval '1 day' FROM d WHERE d.day < execlave_api.dashboard_today())
                 SELECT jsonb_agg(jsonb_build_object('day', to_char(d.day AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
                     'costUsd', coalesce(c.cost, 0), 'traces', coalesce(c.n, 0)) ORDER BY d.day)
                 FROM d
                 LEFT JOIN (SELECT date_trunc('day', t.started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day,
                                   sum(t.cost_usd) AS cost, count(*) AS n
                            FROM execlave.traces t WHERE t.agent_id = aid AND t.started_at >= first_day
                            GROUP BY 1) c ON c.day = d.day));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_cost_per_day(text, integer) IS 'HTTP (dashboard): {dailyCap, monthlyCap, days[{day, costUsd, traces}]} of an agent over the last days (UTC, 1-90); admin keys';

-- The violations filter: agent (key or UUID), policy (name or UUID), mode,
-- phase, since, until; 22023 / EX002 for a bad value.
CREATE FUNCTION execlave_api.dashboard_violation_filter(agent text, policy text, mode text, phase text,
    OUT agent_id uuid, OUT policy_ids uuid[])
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF nullif(agent, '') IS NOT NULL THEN
        agent_id := execlave.resolve_agent(agent);
    END IF;
    IF nullif(policy, '') IS NOT NULL THEN
        -- by name, or by id (violations outlive their policy: a dropped one's id still filters)
        policy_ids := ARRAY(SELECT p.id FROM execlave.policies p WHERE p.name = policy);
        IF cardinality(policy_ids) = 0 AND policy ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' THEN
            policy_ids := ARRAY[policy::uuid];
        END IF;
        IF cardinality(policy_ids) = 0 THEN
            RAISE EXCEPTION 'policy "%" does not exist', left(policy, 200) USING ERRCODE = 'EX006';
        END IF;
    END IF;
    IF nullif(mode, '') IS NOT NULL AND mode NOT IN ('log', 'flag', 'block') THEN
        RAISE EXCEPTION 'invalid mode "%"', left(mode, 64) USING ERRCODE = 'invalid_parameter_value', HINT = 'One of log, flag, block.';
    END IF;
    IF nullif(phase, '') IS NOT NULL AND phase NOT IN ('pre_execution', 'ingestion') THEN
        RAISE EXCEPTION 'invalid phase "%"', left(phase, 64) USING ERRCODE = 'invalid_parameter_value',
            HINT = 'One of pre_execution, ingestion.';
    END IF;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_violation_filter(text, text, text, text) IS 'Internal: resolve and check the dashboard''s violation filters';

-- Violations, newest first.
CREATE FUNCTION execlave_api.dashboard_violations(agent text DEFAULT NULL, policy text DEFAULT NULL,
    mode text DEFAULT NULL, phase text DEFAULT NULL, since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL,
    "limit" integer DEFAULT 50, "offset" integer DEFAULT 0)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    f record;
    m text := nullif(mode, '');
    ph text := nullif(phase, '');
    total bigint;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    PERFORM execlave_api.dashboard_page("limit", "offset");
    SELECT * INTO f FROM execlave_api.dashboard_violation_filter(agent, policy, mode, phase);
    SELECT count(*) INTO total FROM (
        SELECT 1 FROM execlave.violations v
        WHERE (f.agent_id IS NULL OR v.agent_id = f.agent_id) AND (f.policy_ids IS NULL OR v.policy_id = ANY (f.policy_ids))
          AND (m IS NULL OR v.mode = m) AND (ph IS NULL OR v.phase = ph)
          AND (since IS NULL OR v.created_at >= since) AND (until IS NULL OR v.created_at < until)
        LIMIT 10001) c;
    RETURN jsonb_build_object('total', total, 'totalCapped', total > 10000, 'limit', "limit", 'offset', "offset",
        'items', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', x.id, 'createdAt', x.created_at,
                      'policyId', x.policy_id, 'policyName', x.policy_name, 'policyType', x.policy_type, 'mode', x.mode,
                      'agentId', x.agent_id, 'agentKey', x.agent_key, 'traceId', x.trace_id, 'phase', x.phase,
                      'message', x.message) ORDER BY x.created_at DESC, x.id DESC), '[]')
                  FROM (SELECT v.* FROM execlave.violations v
                        WHERE (f.agent_id IS NULL OR v.agent_id = f.agent_id)
                          AND (f.policy_ids IS NULL OR v.policy_id = ANY (f.policy_ids))
                          AND (m IS NULL OR v.mode = m) AND (ph IS NULL OR v.phase = ph)
                          AND (since IS NULL OR v.created_at >= since) AND (until IS NULL OR v.created_at < until)
                        ORDER BY v.created_at DESC, v.id DESC LIMIT "limit" OFFSET "offset") x));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_violations(text, text, text, text, timestamptz, timestamptz, integer, integer) IS 'HTTP (dashboard): violations newest first, filtered by agent, policy (name or id), mode, phase, since, until; total counted up to 10001 (totalCapped); admin keys';

-- One violation with its details.
CREATE FUNCTION execlave_api.dashboard_violation(id bigint) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    answer jsonb;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    SELECT jsonb_build_object('id', v.id, 'createdAt', v.created_at, 'policyId', v.policy_id,
               'policyName', v.policy_name, 'policyType', v.policy_type, 'mode', v.mode, 'agentId', v.agent_id,
               'agentKey', v.agent_key, 'traceId', v.trace_id, 'phase', v.phase, 'message', v.message,
               'details', v.details, 'recordedBy', v.recorded_by)
    INTO answer FROM execlave.violations v WHERE v.id = dashboard_violation.id;
    IF answer IS NULL THEN
        RAISE EXCEPTION 'violation % does not exist', id USING ERRCODE = 'no_data_found';
    END IF;
    RETURN answer;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    IF st = 'P0002' THEN
        PERFORM execlave_api.fail(404, st, msg);
    END IF;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_violation(bigint) IS 'HTTP (dashboard): one violation with its JSON details and recordedBy; 404 P0002 when there is none; admin keys';

-- Violations per UTC hour, policy, mode and phase of the hours before
-- execlave.violations_hourly_state.sealed_until: what the chart reads
-- instead of every violation of those hours.  Nothing on the recording path
-- keeps it (recording a violation costs what it did): the chart's call seals
-- the hours that no transaction can still add violations to (those before
-- the start of the oldest transaction running in this database; a violation
-- is stamped with its transaction's start) and counts the rest, the current
-- hour mostly, from execlave.violations.  Hours more than 8 days old are
-- dropped from it (the chart shows at most 7 days); hours that retention
-- deleted violations of are counted from the violations (see
-- dashboard_violations_per_hour).  Dumped with the violations.
CREATE TABLE execlave.violations_hourly (
    hour        timestamptz NOT NULL,
    policy_id   uuid        NOT NULL,
    policy_name text        COLLATE "C" NOT NULL,
    mode        text        NOT NULL,
    phase       text        NOT NULL,
    n           bigint      NOT NULL,
    CONSTRAINT violations_hourly_pkey PRIMARY KEY (hour, policy_id, policy_name, mode, phase)
);
COMMENT ON TABLE execlave.violations_hourly IS 'Violations per UTC hour, policy, mode and phase of the sealed hours (before violations_hourly_state.sealed_until, at most 8 days back); the dashboard''s chart reads it';
CREATE TABLE execlave.violations_hourly_state (
    one          boolean     PRIMARY KEY DEFAULT true CHECK (one),
    sealed_until timestamptz
);
COMMENT ON TABLE execlave.violations_hourly_state IS 'At most one row (made by the first sealing, so that a restore brings its own): execlave.violations_hourly holds the hours before sealed_until';
SELECT pg_catalog.pg_extension_config_dump('execlave.violations_hourly', '');
SELECT pg_catalog.pg_extension_config_dump('execlave.violations_hourly_state', '');
REVOKE ALL ON execlave.violations_hourly, execlave.violations_hourly_state FROM PUBLIC;
GRANT SELECT ON execlave.violations_hourly, execlave.violations_hourly_state TO execlave_reader, execlave_app, execlave_admin;

-- Seal the hours before the oldest running transaction's start (its hour):
-- count their violations into execlave.violations_hourly, drop hours older
-- than 8 days.  One caller at a time (the others skip); nothing in a
-- read-only transaction.  Returns sealed_until.
CREATE FUNCTION execlave.violations_hourly_seal() RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    horizon timestamptz;
    sealed timestamptz;
    got boolean;
BEGIN
    IF pg_catalog.current_setting('transaction_read_only') = 'on' THEN
        RETURN (SELECT s.sealed_until FROM execlave.violations_hourly_state s);
    END IF;
    SELECT pg_catalog.date_trunc('hour', LEAST(pg_catalog.now(), pg_catalog.min(a.xact_start)) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    INTO horizon
    FROM pg_catalog.pg_stat_activity a
    WHERE a.datid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database());
    SELECT true, s.sealed_until INTO got, sealed FROM execlave.violations_hourly_state s FOR UPDATE SKIP LOCKED;
    IF got IS NULL AND NOT EXISTS (SELECT FROM execlave.violations_hourly_state) THEN
        INSERT INTO execlave.violations_hourly_state (sealed_until) VALUES (NULL) ON CONFLICT DO NOTHING;
        SELECT true, s.sealed_until INTO got, sealed FROM execlave.violations_hourly_state s FOR UPDATE SKIP LOCKED;
    END IF;
    IF got IS NULL THEN            -- another call is sealing
        RETURN (SELECT s.sealed_until FROM execlave.violations_hourly_state s);
    END IF;
    IF sealed IS NOT NULL AND sealed >= horizon THEN
        RETURN sealed;
    END IF;
    sealed := GREATEST(sealed, horizon OPERATOR(pg_catalog.-) interval '8 days');
    INSERT INTO execlave.violations_hourly (hour, policy_id, policy_name, mode, phase, n)
    SELECT pg_catalog.date_trunc('hour', v.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', v.policy_id, v.policy_name,
           v.mode, v.phase, pg_catalog.count(*)
    FROM execlave.violations v
    WHERE v.created_at >= sealed AND v.created_at < horizon
    GROUP BY 1, 2, 3, 4, 5;
    DELETE FROM execlave.violations_hourly h WHERE h.hour < horizon OPERATOR(pg_catalog.-) interval '8 days';
    UPDATE execlave.violations_hourly_state SET sealed_until = horizon;
    RETURN horizon;
END
$$;
COMMENT ON FUNCTION execlave.violations_hourly_seal() IS 'Internal (dashboard_violations_per_hour): count the violations of the hours no running transaction can add to into execlave.violations_hourly; returns sealed_until';
REVOKE ALL ON FUNCTION execlave.violations_hourly_seal() FROM PUBLIC;

-- Violations per UTC hour and policy over the last hours (1-168), with the
-- same filters.  Without an agent: the sealed hours from
-- execlave.violations_hourly (from the first hour all of whose violations
-- are still there: retention deletes the oldest), the others from
-- execlave.violations (index on created_at); for one agent: that agent's
-- violations (index violations_agent_idx).
CREATE FUNCTION execlave_api.dashboard_violations_per_hour(hours integer DEFAULT 24, agent text DEFAULT NULL,
    policy text DEFAULT NULL, mode text DEFAULT NULL, phase text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    f record;
    m text := nullif(mode, '');
    ph text := nullif(phase, '');
    first_hour timestamptz;
    sealed timestamptz;       -- the hours in [whole_from, sealed) come from violations_hourly
    whole_from timestamptz;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    IF hours IS NULL OR hours NOT BETWEEN 1 AND 168 THEN
        RAISE EXCEPTION 'hours must be from 1 to 168' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO f FROM execlave_api.dashboard_violation_filter(agent, policy, mode, phase);
    first_hour := (date_trunc('hour', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') - (hours - 1) * interval '1 hour';
    IF f.agent_id IS NULL THEN
        sealed := execlave.violations_hourly_seal();
        whole_from := greatest(first_hour,
            (SELECT date_trunc('hour', min(v.created_at) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '1 hour'
             FROM execlave.violations v));
    END IF;
    IF sealed IS NULL OR whole_from IS NULL OR whole_from >= sealed THEN
        sealed := first_hour;          -- nothing from violations_hourly
        whole_from := first_hour;
    END IF;
    RETURN jsonb_build_object('from', first_hour, 'hours', hours,
        'series', (SELECT coalesce(jsonb_agg(jsonb_build_object('policyName', s.policy_name, 'total', s.total,
                       'counts', s.counts) ORDER BY s.total DESC, s.policy_name), '[]')
                   FROM (SELECT c.policy_name, sum(c.n) AS total,
                                jsonb_agg(jsonb_build_array(extract(epoch FROM c.hour)::bigint, c.n) ORDER BY c.hour) AS counts
                         FROM (SELECT r.policy_name, r.hour, sum(r.n) AS n
                               FROM (SELECT v.policy_name, date_trunc('hour', v.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour,
                                            count(*) AS n
                                     FROM execlave.violations v
                                     WHERE ((v.created_at >= first_hour AND v.created_at < whole_from) OR v.created_at >= sealed)
                                       AND (f.agent_id IS NULL OR v.agent_id = f.agent_id)
                                       AND (f.policy_ids IS NULL OR v.policy_id = ANY (f.policy_ids))
                                       AND (m IS NULL OR v.mode = m) AND (ph IS NULL OR v.phase = ph)
                                     GROUP BY 1, 2
                                     UNION ALL
                                     SELECT h.policy_name, h.hour, sum(h.n)
                                     FROM execlave.violations_hourly h
                                     WHERE h.hour >= whole_from AND h.hour < sealed
                                       AND (f.policy_ids IS NULL OR h.policy_id = ANY (f.policy_ids))
                                       AND (m IS NULL OR h.mode = m) AND (ph IS NULL OR h.phase = ph)
                                     GROUP BY 1, 2) r
                               GROUP BY 1, 2) c
                         GROUP BY c.policy_name) s));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_violations_per_hour(integer, text, text, text, text) IS 'HTTP (dashboard): {from, hours, series[{policyName, total, counts[[hour epoch, n]]}]} per UTC hour over the last hours (1-168), with the violation filters (the sealed hours from execlave.violations_hourly); admin keys';

-- Policies by name, of one type and mode, with their agents' keys and violations of the last 24 hours.
CREATE FUNCTION execlave_api.dashboard_policies(type text DEFAULT NULL, mode text DEFAULT NULL,
                                                "limit" integer DEFAULT 50, "offset" integer DEFAULT 0)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ty text := nullif(type, '');
    m text := nullif(mode, '');
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    PERFORM execlave_api.dashboard_page("limit", "offset");
    RETURN jsonb_build_object(
        'total', (SELECT count(*) FROM execlave.policies p WHERE (ty IS NULL OR p.type = ty) AND (m IS NULL OR p.mode = m)),
        'limit', "limit", 'offset', "offset",
        'items', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', x.id, 'name', x.name, 'type', x.type, 'mode', x.mode,
                      'config', x.config, 'active', x.active, 'createdAt', x.created_at, 'updatedAt', x.updated_at,
                      'updatedBy', x.updated_by,
                      'agentKeys', (SELECT to_jsonb(array_agg(a.key ORDER BY a.key)) FROM execlave.agents a
                                    WHERE a.id = ANY (x.agent_ids)),
                      'violations24h', (SELECT count(*) FROM execlave.violations v
                                        WHERE v.policy_id = x.id AND v.created_at > now() - interval '24 hours'))
                      ORDER BY x.name), '[]')
                  FROM (SELECT p.* FROM execlave.policies p WHERE (ty IS NULL OR p.type = ty) AND (m IS NULL OR p.mode = m)
                        ORDER BY p.name LIMIT "limit" OFFSET "offset") x));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_policies(text, text, integer, integer) IS 'HTTP (dashboard): policies by name, filtered by type and mode, with agentKeys (null: all agents) and violations24h; paged; admin keys';

-- Change a policy (execlave_update_policy: NULL keeps a value; agentIds [] means all agents).
CREATE FUNCTION execlave_api.dashboard_update_policy(policy text, mode text DEFAULT NULL, config jsonb DEFAULT NULL,
                                                     "agentIds" text[] DEFAULT NULL, name text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    pid uuid;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    pid := execlave.update_policy(policy, mode, config, "agentIds", name);
    RETURN (SELECT jsonb_build_object('id', p.id, 'name', p.name, 'type', p.type, 'mode', p.mode, 'config', p.config,
                'agentIds', to_jsonb(p.agent_ids), 'active', p.active, 'updatedAt', p.updated_at)
            FROM execlave.policies p WHERE p.id = pid);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_update_policy(text, text, jsonb, text[], text) IS 'HTTP (dashboard): change a policy (by name or id; null keeps a value, agentIds [] means all agents); admin keys';

-- Switch a policy on or off.
CREATE FUNCTION execlave_api.dashboard_set_policy_active(policy text, active boolean) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    changed boolean;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    IF active IS NULL THEN
        RAISE EXCEPTION 'active must be true or false' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    changed := CASE WHEN active THEN execlave.enable_policy(policy) ELSE execlave.disable_policy(policy) END;
    RETURN jsonb_build_object('active', active, 'changed', changed);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_set_policy_active(text, boolean) IS 'HTTP (dashboard): enable or disable a policy; {active, changed}; admin keys';

-- Drop a policy (its violations stay).
CREATE FUNCTION execlave_api.dashboard_drop_policy(policy text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    PERFORM execlave.drop_policy(policy);
    RETURN jsonb_build_object('dropped', true);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_drop_policy(text) IS 'HTTP (dashboard): delete a policy (by name or id; its violations stay); admin keys';

-- Revoke one grant.
CREATE FUNCTION execlave_api.dashboard_revoke_grant("grantId" uuid) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    changed boolean;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    changed := execlave.revoke("grantId");
    RETURN jsonb_build_object('revoked', changed, 'grant', execlave_api.dashboard_grant_json("grantId"));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_revoke_grant(uuid) IS 'HTTP (dashboard): revoke a grant; {revoked (false if it already was), grant}; admin keys';

-- Webhook endpoints with their health (never their secrets) and the worker's state.
CREATE FUNCTION execlave_api.dashboard_webhooks() RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    RETURN jsonb_build_object('worker', execlave.webhook_worker_status(),
        'items', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', w.id, 'url', w.url,
                      'events', coalesce(to_jsonb(w.events), '["*"]'), 'active', w.active, 'description', w.description,
                      'createdAt', w.created_at, 'disabledAt', w.disabled_at, 'disabledReason', w.disabled_reason,
                      'pending', h.pending, 'retrying', h.retrying, 'dead', h.dead, 'succeeded', h.succeeded,
                      'lastSuccessAt', h.last_success_at, 'lastError', h.last_error, 'lastErrorAt', h.last_error_at,
                      'p50LatencyMs', h.p50_latency_ms_1h, 'p99LatencyMs', h.p99_latency_ms_1h)
                      ORDER BY w.created_at, w.id), '[]')
                  FROM execlave.webhooks w JOIN execlave.webhook_health h ON h.webhook_id = w.id));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_webhooks() IS 'HTTP (dashboard): {worker, items}: endpoints (never their secrets) with pending, retrying, dead, succeeded, last success, last error, p50/p99 latency over the last hour; admin keys';

-- Queue a webhook.test event for one endpoint.
CREATE FUNCTION execlave_api.dashboard_test_webhook("webhookId" uuid) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    RETURN jsonb_build_object('eventId', execlave.test_webhook("webhookId"));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_test_webhook(uuid) IS 'HTTP (dashboard): queue a webhook.test event for this endpoint only; {eventId}; admin keys';

-- Stop or resume an endpoint's deliveries.
CREATE FUNCTION execlave_api.dashboard_set_webhook_active("webhookId" uuid, active boolean) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    changed boolean;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    IF active IS NULL THEN
        RAISE EXCEPTION 'active must be true or false' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    changed := CASE WHEN active THEN execlave.enable_webhook("webhookId")
                    ELSE execlave.disable_webhook("webhookId", 'disabled in the dashboard') END;
    RETURN jsonb_build_object('active', active, 'changed', changed);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_set_webhook_active(uuid, boolean) IS 'HTTP (dashboard): disable or enable an endpoint; {active, changed}; admin keys';

-- An endpoint's deliveries of one status (default dead), newest first.
CREATE FUNCTION execlave_api.dashboard_deliveries("webhookId" uuid, status text DEFAULT 'dead',
                                                  "limit" integer DEFAULT 50, "offset" integer DEFAULT 0)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    want text := nullif(status, '');
    total bigint;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    PERFORM execlave_api.dashboard_page("limit", "offset");
    IF want IS NOT NULL AND want NOT IN ('pending', 'delivering', 'retrying', 'succeeded', 'dead') THEN
        RAISE EXCEPTION 'invalid status "%"', left(want, 64) USING ERRCODE = 'invalid_parameter_value',
            HINT = 'One of pending, delivering, retrying, succeeded, dead.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM execlave.webhooks w WHERE w.id = "webhookId") THEN
        RAISE EXCEPTION 'webhook % does not exist', "webhookId" USING ERRCODE = 'EX007';
    END IF;
    SELECT count(*) INTO total FROM (SELECT 1 FROM execlave.deliveries d
        WHERE d.webhook_id = "webhookId" AND (want IS NULL OR d.status = want) LIMIT 10001) c;
    RETURN jsonb_build_object('total', total, 'totalCapped', total > 10000, 'limit', "limit", 'offset', "offset",
        'items', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', x.id, 'eventId', x.event_id, 'eventType', x.event_type,
                      'status', x.status, 'attempts', x.attempts, 'nextAttemptAt', x.next_attempt_at,
                      'lastAttemptAt', x.last_attempt_at, 'lastStatusCode', x.last_status_code, 'lastError', x.last_error,
                      'lastLatencyMs', x.last_latency_ms, 'createdAt', x.created_at, 'deliveredAt', x.delivered_at)
                      ORDER BY x.created_at DESC, x.id DESC), '[]')
                  FROM (SELECT d.* FROM execlave.deliveries d
                        WHERE d.webhook_id = "webhookId" AND (want IS NULL OR d.status = want)
                        ORDER BY d.created_at DESC, d.id DESC LIMIT "limit" OFFSET "offset") x));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_deliveries(uuid, text, integer, integer) IS 'HTTP (dashboard): an endpoint''s deliveries of one status (dead unless given; null: all), newest first; total counted up to 10001; admin keys';

-- Queue a delivery again.
CREATE FUNCTION execlave_api.dashboard_redeliver("deliveryId" bigint) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    RETURN jsonb_build_object('redelivered', execlave.redeliver("deliveryId"));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_redeliver(bigint) IS 'HTTP (dashboard): queue a delivery again with a fresh attempt count; {redelivered} (false if it is pending or in flight); admin keys';

-- API keys (never the key or its hash), newest first.
CREATE FUNCTION execlave_api.dashboard_api_keys("limit" integer DEFAULT 50, "offset" integer DEFAULT 0) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    PERFORM execlave_api.dashboard_page("limit", "offset");
    RETURN jsonb_build_object('total', (SELECT count(*) FROM execlave.api_keys), 'limit', "limit", 'offset', "offset",
        'items', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', x.id, 'name', x.name, 'environment', x.environment,
                      'scope', x.scope, 'agentKey', x.agent_key, 'keyPrefix', x.key_prefix, 'createdAt', x.created_at,
                      'createdBy', x.created_by, 'expiresAt', x.expires_at, 'revokedAt', x.revoked_at,
                      'lastUsedAt', x.last_used_at, 'state', x.state,
                      'current', x.id::text = current_setting('execlave.api_key_id'))
                      ORDER BY x.created_at DESC, x.id), '[]')
                  FROM (SELECT k.* FROM execlave.list_api_keys() k
                        ORDER BY k.created_at DESC, k.id LIMIT "limit" OFFSET "offset") x));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_api_keys(integer, integer) IS 'HTTP (dashboard): API keys newest first (never the key or its hash) with state and current (the key of this request); paged; admin keys';

-- Create an API key: the key is in this answer only.
CREATE FUNCTION execlave_api.dashboard_create_api_key(name text, environment text, scope text DEFAULT 'admin',
                                                      agent text DEFAULT NULL, "expiresAt" timestamptz DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k record;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    SELECT * INTO k FROM execlave.create_api_key(name, environment, scope, nullif(agent, ''), "expiresAt");
    RETURN jsonb_build_object('id', k.id, 'apiKey', k.api_key, 'keyPrefix', k.key_prefix);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_create_api_key(text, text, text, text, timestamptz) IS 'HTTP (dashboard): create an API key (execlave_create_api_key); {id, apiKey (this once), keyPrefix}; admin keys';

-- Revoke an API key.
CREATE FUNCTION execlave_api.dashboard_revoke_api_key("keyId" uuid) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    RETURN jsonb_build_object('revoked', execlave.revoke_api_key("keyId"::text));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_revoke_api_key(uuid) IS 'HTTP (dashboard): revoke an API key by id; {revoked} (false if it already was); admin keys';

-- Approval requests of one status as GET /api/approvals shows them (the
-- status a request shows: a pending or approved one past its expiry is
-- expired), newest first, paged on the server; total counted up to 10001.
CREATE FUNCTION execlave_api.dashboard_approvals(status text DEFAULT 'pending', "limit" integer DEFAULT 50,
                                                 "offset" integer DEFAULT 0)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    want text := coalesce(nullif(status, ''), 'pending');
    t timestamptz := clock_timestamp();
    total bigint;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    PERFORM execlave_api.dashboard_page("limit", "offset");
    IF want NOT IN ('pending', 'approved', 'denied', 'expired', 'cancelled', 'consumed', 'all') THEN
        RAISE EXCEPTION 'unknown status "%"', left(want, 64) USING ERRCODE = 'invalid_parameter_value',
            HINT = 'status: pending, approved, denied, expired, cancelled, consumed or all.';
    END IF;
    SELECT count(*) INTO total FROM (
        SELECT 1 FROM execlave.approvals a
        WHERE want = 'all'
           OR (want IN ('pending', 'approved') AND a.status = want AND a.expires_at > t)
           OR (want = 'expired' AND (a.status = 'expired' OR (a.status IN ('pending', 'approved') AND a.expires_at <= t)))
           OR (want NOT IN ('pending', 'approved', 'expired') AND a.status = want)
        LIMIT 10001) c;
    RETURN jsonb_build_object('total', total, 'totalCapped', total > 10000, 'limit', "limit", 'offset', "offset",
        'items', (SELECT coalesce(jsonb_agg(execlave_api.hosted_approval(x) ORDER BY x.requested_at DESC, x.id), '[]')
                  FROM (SELECT a.* FROM execlave.approvals a
                        WHERE want = 'all'
                           OR (want IN ('pending', 'approved') AND a.status = want AND a.expires_at > t)
                           OR (want = 'expired' AND (a.status = 'expired' OR (a.status IN ('pending', 'approved') AND a.expires_at <= t)))
                           OR (want NOT IN ('pending', 'approved', 'expired') AND a.status = want)
                        ORDER BY a.requested_at DESC, a.id LIMIT "limit" OFFSET "offset") x));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.dashboard_approvals(text, integer, integer) IS 'HTTP (dashboard): approval requests of one status (default pending; all) as GET /api/approvals shows them, newest first; total counted up to 10001 (totalCapped); admin keys';

REVOKE ALL ON FUNCTION execlave_api.dashboard_page(integer, integer), execlave_api.dashboard_today(),
    execlave_api.dashboard_session(), execlave_api.dashboard_agents(text, text, integer, integer),
    execlave_api.dashboard_statuses(uuid[]), execlave_api.dashboard_agent(text), execlave_api.dashboard_grant_json(uuid),
    execlave_api.dashboard_status_history(text, integer, integer), execlave_api.dashboard_traces(text, integer, integer),
    execlave_api.dashboard_cost_per_day(text, integer), execlave_api.dashboard_violation_filter(text, text, text, text),
    execlave_api.dashboard_violations(text, text, text, text, timestamptz, timestamptz, integer, integer),
    execlave_api.dashboard_violation(bigint), execlave_api.dashboard_violations_per_hour(integer, text, text, text, text),
    execlave_api.dashboard_policies(text, text, integer, integer),
    execlave_api.dashboard_update_policy(text, text, jsonb, text[], text),
    execlave_api.dashboard_set_policy_active(text, boolean), execlave_api.dashboard_drop_policy(text),
    execlave_api.dashboard_revoke_grant(uuid), execlave_api.dashboard_webhooks(),
    execlave_api.dashboard_test_webhook(uuid), execlave_api.dashboard_set_webhook_active(uuid, boolean),
    execlave_api.dashboard_deliveries(uuid, text, integer, integer), execlave_api.dashboard_redeliver(bigint),
    execlave_api.dashboard_api_keys(integer, integer), execlave_api.dashboard_create_api_key(text, text, text, text, timestamptz),
    execlave_api.dashboard_revoke_api_key(uuid), execlave_api.dashboard_approvals(text, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave_api.dashboard_session(), execlave_api.dashboard_agents(text, text, integer, integer),
    execlave_api.dashboard_statuses(uuid[]), execlave_api.dashboard_agent(text),
    execlave_api.dashboard_status_history(text, integer, integer), execlave_api.dashboard_traces(text, integer, integer),
    execlave_api.dashboard_cost_per_day(text, integer),
    execlave_api.dashboard_violations(text, text, text, text, timestamptz, timestamptz, integer, integer),
    execlave_api.dashboard_violation(bigint), execlave_api.dashboard_violations_per_hour(integer, text, text, text, text),
    execlave_api.dashboard_policies(text, text, integer, integer),
    execlave_api.dashboard_update_policy(text, text, jsonb, text[], text),
    execlave_api.dashboard_set_policy_active(text, boolean), execlave_api.dashboard_drop_policy(text),
    execlave_api.dashboard_revoke_grant(uuid), execlave_api.dashboard_webhooks(),
    execlave_api.dashboard_test_webhook(uuid), execlave_api.dashboard_set_webhook_active(uuid, boolean),
    execlave_api.dashboard_deliveries(uuid, text, integer, integer), execlave_api.dashboard_redeliver(bigint),
    execlave_api.dashboard_api_keys(integer, integer), execlave_api.dashboard_create_api_key(text, text, text, text, timestamptz),
    execlave_api.dashboard_revoke_api_key(uuid), execlave_api.dashboard_approvals(text, integer, integer) TO execlave_api_anon;
