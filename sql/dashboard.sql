-- The dashboard's API functions (execlave_api.dashboard_*), called as the
-- HTTP front calls them: as execlave_api_anon, after the key check.  The
-- browser tests (test/t/024_dashboard.pl) drive them through nginx.
SET client_min_messages = warning;

-- Call execlave_api.<call> with this API key as PostgREST would; an HTTP
-- error comes back as {status, code, message}.
CREATE FUNCTION public.api(key text, call text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    failure text;
    r jsonb;
    st text; msg text; det text;
BEGIN
    failure := execlave_api.authenticate(key);
    IF failure IS NOT NULL THEN
        RETURN jsonb_build_object('status', 401, 'message', failure);
    END IF;
    SET LOCAL ROLE execlave_api_anon;
    EXECUTE 'SELECT execlave_api.' || call INTO r;
    RESET ROLE;
    RETURN r;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    IF st = 'PGRST' THEN
        RETURN jsonb_build_object('status', (det::jsonb ->> 'status')::integer, 'code', msg::jsonb ->> 'code',
                                  'message', msg::jsonb ->> 'message');
    END IF;
    RETURN jsonb_build_object('status', 'raised', 'code', st, 'message', msg);
END
$$;

SELECT api_key AS admin_key FROM execlave_create_api_key('ops', 'test', 'admin') \gset
SELECT execlave_register_agent('dash-a', 'Support <b>bot</b>') IS NOT NULL AS a,
       execlave_register_agent('dash-b', 'Billing') IS NOT NULL AS b,
       execlave_register_agent('other-c') IS NOT NULL AS c;
SELECT api_key AS agent_key FROM execlave_create_api_key('bot', 'test', 'agent', 'dash-a') \gset

-- Sign-in: who the key is; a wrong, revoked or agent key gets no data
SELECT api(:'admin_key', 'dashboard_session()') - 'keyId' - 'keyPrefix' - 'version' AS session;
SELECT api(:'agent_key', 'dashboard_session()') AS agent_key_session;
SELECT api('ag_test_' || repeat('x', 40), 'dashboard_session()') AS wrong_key;
SELECT api(NULL, 'dashboard_agents()') AS no_key;
SET ROLE execlave_api_anon;
SELECT expect_error($$SELECT execlave_api.dashboard_agents()$$) AS without_pre_request;
RESET ROLE;

-- Agents: paged, with total, search in key or name (any case), status filter
SELECT execlave_pause_agent('dash-b', 'incident 7');
SELECT x ->> 'key' AS key, x ->> 'name' AS name, x ->> 'status' AS status, x ->> 'pauseReason' AS reason,
       x -> 'tracesToday' AS traces_today, x -> 'violations24h' AS violations
FROM jsonb_array_elements(api(:'admin_key', $$dashboard_agents(search => 'dash-')$$) -> 'items') x;
SELECT api(:'admin_key', $$dashboard_agents(search => 'dash-')$$) - 'items' AS page,
       api(:'admin_key', 'dashboard_agents()') -> 'total' = to_jsonb((SELECT count(*) FROM execlave.agents)) AS total_is_all,
       jsonb_array_length(api(:'admin_key', 'dashboard_agents()') -> 'items') AS default_page;
SELECT api(:'admin_key', $$dashboard_agents(search => 'BILL')$$) -> 'items' -> 0 ->> 'key' AS search_in_name,
       api(:'admin_key', $$dashboard_agents(search => 'DASH')$$) -> 'total' AS search_in_key,
       api(:'admin_key', $$dashboard_agents(search => 'dash', status => 'paused')$$) -> 'total' AS paused,
       api(:'admin_key', $$dashboard_agents(search => 'dash', "limit" => 1, "offset" => 1)$$) -> 'items' -> 0 ->> 'key' AS second;
SELECT api(:'admin_key', $$dashboard_agents(status => 'sleeping')$$) AS bad_status;
SELECT api(:'admin_key', $$dashboard_agents("limit" => 0)$$) AS bad_limit;
SELECT api(:'admin_key', $$dashboard_agents("offset" => -1)$$) AS bad_offset;

-- The cheap status poll
SELECT jsonb_object_keys(api(:'admin_key', format('dashboard_statuses(%L)',
    ARRAY(SELECT id FROM execlave.agents WHERE key LIKE 'dash-%'))::text)) = ANY (ARRAY(SELECT id::text FROM execlave.agents)) AS polled;
SELECT s.value ->> 'status' AS status, s.value ->> 'pauseReason' AS reason
FROM jsonb_each(api(:'admin_key', format('dashboard_statuses(%L)', ARRAY(SELECT id FROM execlave.agents WHERE key = 'dash-b'))::text)) s;
SELECT api(:'admin_key', format('dashboard_statuses(%L)', ARRAY(SELECT gen_random_uuid() FROM generate_series(1, 501)))) ->> 'message' AS too_many;

-- Status history: who, when, why (the key's name when paused over HTTP)
SELECT api(:'admin_key', $$dashboard_agents()$$) IS NOT NULL AS warm;
BEGIN;
SELECT execlave_api.authenticate(:'admin_key') IS NULL AS authenticated;
SELECT execlave_pause_agent('dash-a', 'through the API');
COMMIT;
SELECT execlave_resume_agent('dash-a');
SELECT x ->> 'oldStatus' AS old, x ->> 'newStatus' AS new, x ->> 'reason' AS reason, x ->> 'changedBy' = 'api:ops' AS by_key
FROM jsonb_array_elements(api(:'admin_key', $$dashboard_status_history('dash-a')$$) -> 'items') x;
SELECT api(:'admin_key', $$dashboard_status_history('dash-a', "limit" => 1)$$) -> 'total' AS history_total,
       jsonb_array_length(api(:'admin_key', $$dashboard_status_history('dash-a', "limit" => 1)$$) -> 'items') AS page_size;
SELECT api(:'admin_key', $$dashboard_status_history('ghost')$$) AS unknown_agent;

-- Policies: list, per type and mode, update, disable, enable, drop
SELECT execlave_create_policy('no-pii', 'pii_detection', 'log', '{"types": ["email"], "mask": true}') IS NOT NULL AS created;
SELECT execlave_create_policy('only-b', 'model_allowlist', 'flag', '{"allow": ["gpt-4o"]}', ARRAY['dash-b']) IS NOT NULL AS created;
SELECT x ->> 'name' AS name, x ->> 'type' AS type, x ->> 'mode' AS mode, x -> 'agentKeys' AS agents, x -> 'active' AS active
FROM jsonb_array_elements(api(:'admin_key', 'dashboard_policies("limit" => 500)') -> 'items') x
WHERE x ->> 'name' IN ('no-pii', 'only-b');
SELECT api(:'admin_key', $$dashboard_policies(type => 'pii_detection')$$) -> 'items' -> 0 ->> 'name' AS by_type,
       api(:'admin_key', $$dashboard_policies(mode => 'block')$$) -> 'total' = to_jsonb((SELECT count(*) FROM execlave.policies WHERE mode = 'block')) AS by_mode,
       api(:'admin_key', $$dashboard_policies("limit" => 1)$$) -> 'total' = to_jsonb((SELECT count(*) FROM execlave.policies)) AS total;
SELECT api(:'admin_key', $$dashboard_update_policy('only-b', config => '{"allow": []}')$$) AS invalid_config;
SELECT api(:'admin_key', $$dashboard_update_policy('only-b', config => '{"allow": ["gpt-4o"], "bogus": 1}')$$) AS unknown_key;
SELECT config FROM execlave.policies WHERE name = 'only-b';
SELECT api(:'admin_key', $$dashboard_update_policy('only-b', mode => 'block')$$) ->> 'mode' AS updated_mode;
SELECT api(:'admin_key', $$dashboard_set_policy_active('only-b', false)$$) AS disabled,
       api(:'admin_key', $$dashboard_set_policy_active('only-b', false)$$) AS again;
SELECT api(:'admin_key', $$dashboard_set_policy_active('only-b', NULL)$$) AS null_active;
SELECT api(:'admin_key', $$dashboard_set_policy_active('only-b', true)$$) -> 'changed' AS enabled;
SELECT api(:'admin_key', $$dashboard_drop_policy('nothere')$$) AS drop_unknown;

-- Traces, violations, their detail and the count per hour
SELECT execlave_resume_agent('dash-b');
SELECT execlave_submit_trace('dash-a', '{"input": "mail me at <a@example.com>", "cost_usd": 0.5, "model": "gpt-4o"}') IS NOT NULL AS traced;
SELECT expect_error($$SELECT execlave_submit_trace('dash-b', '{"input": "hello", "model": "llama", "cost_usd": 0.25}')$$) AS blocked;
SELECT x ->> 'input' AS stored_input, x -> 'costUsd' AS cost
FROM jsonb_array_elements(api(:'admin_key', $$dashboard_traces('dash-a')$$) -> 'items') x;
SELECT api(:'admin_key', $$dashboard_traces('dash-a')$$) - 'items' AS traces_page;
SELECT x ->> 'policyName' AS policy, x ->> 'agentKey' AS agent, x ->> 'mode' AS mode, x ->> 'phase' AS phase
FROM jsonb_array_elements(api(:'admin_key', 'dashboard_violations()') -> 'items') x WHERE x ->> 'agentKey' LIKE 'dash-%' ORDER BY 1;
SELECT api(:'admin_key', $$dashboard_violations(agent => 'dash-b')$$) -> 'total' AS by_agent,
       api(:'admin_key', $$dashboard_violations(policy => 'no-pii')$$) -> 'total' AS by_policy,
       api(:'admin_key', $$dashboard_violations(agent => 'dash-b', mode => 'block')$$) -> 'total' AS by_mode,
       api(:'admin_key', $$dashboard_violations(agent => 'dash-a', phase => 'ingestion')$$) -> 'total' AS by_phase,
       api(:'admin_key', $$dashboard_violations(agent => 'dash-a', phase => 'pre_execution')$$) -> 'total' AS other_phase,
       api(:'admin_key', format('dashboard_violations(since => %L)', now() + interval '1 hour')) -> 'total' AS in_future;
SELECT api(:'admin_key', $$dashboard_violations(policy => 'nothere')$$) AS unknown_policy;
SELECT api(:'admin_key', $$dashboard_violations(mode => 'loud')$$) AS bad_mode;
SELECT api(:'admin_key', $$dashboard_violations(phase => 'later')$$) AS bad_phase;
SELECT v ->> 'policyName' AS policy, v -> 'details' ? 'input' AS has_details, v ->> 'recordedBy' AS recorded_by
FROM api(:'admin_key', format('dashboard_violation(%s)', (SELECT min(id) FROM execlave.violations WHERE policy_name = 'no-pii'))) v;
SELECT api(:'admin_key', 'dashboard_violation(0)') AS no_violation;
SELECT s ->> 'policyName' AS policy, s -> 'total' AS total, jsonb_array_length(s -> 'counts') AS hours_with_violations
FROM jsonb_array_elements(api(:'admin_key', $$dashboard_violations_per_hour(agent => 'dash-a')$$) -> 'series') s ORDER BY 1;
SELECT api(:'admin_key', 'dashboard_violations_per_hour(0)') AS bad_hours;

-- The chart counts the sealed hours (before the oldest running
-- transaction's start) from execlave.violations_hourly, the rest from the
-- violations: the same answer as counting the violations themselves, for
-- every filter, before and after the first sealing, after new violations
-- and after a retention delete.
CREATE FUNCTION public.per_hour_raw(hours integer, agent uuid, pol uuid, m text, ph text) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('policyName', s.policy_name, 'total', s.total, 'counts', s.counts)
                              ORDER BY s.total DESC, s.policy_name), '[]')
    FROM (SELECT c.policy_name, sum(c.n) AS total,
                 jsonb_agg(jsonb_build_array(extract(epoch FROM c.hour)::bigint, c.n) ORDER BY c.hour) AS counts
          FROM (SELECT v.policy_name, date_trunc('hour', v.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, count(*) AS n
                FROM execlave.violations v
                WHERE v.created_at >= (date_trunc('hour', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') - (hours - 1) * interval '1 hour'
                  AND (agent IS NULL OR v.agent_id = agent) AND (pol IS NULL OR v.policy_id = pol)
                  AND (m IS NULL OR v.mode = m) AND (ph IS NULL OR v.phase = ph)
                GROUP BY 1, 2) c
          GROUP BY c.policy_name) s
$$;
CREATE FUNCTION public.per_hour_same() RETURNS TABLE (call text, same boolean, some_series boolean)
LANGUAGE plpgsql AS $$
DECLARE
    a uuid := (SELECT id FROM execlave.agents WHERE key = 'dash-a');
    p uuid := (SELECT id FROM execlave.policies WHERE name = 'no-pii');
    c record;
    got jsonb;
BEGIN
    FOR c IN SELECT * FROM (VALUES
        ('24 h', 24, NULL::uuid, NULL::uuid, NULL, NULL), ('1 h', 1, NULL, NULL, NULL, NULL), ('168 h', 168, NULL, NULL, NULL, NULL),
        ('mode', 48, NULL, NULL, 'flag', NULL), ('phase', 48, NULL, NULL, NULL, 'pre_execution'),
        ('policy', 48, NULL, p, NULL, NULL), ('agent', 48, a, NULL, NULL, NULL), ('agent+mode', 48, a, NULL, 'log', 'ingestion'))
        AS t(label, hours, agent, pol, m, ph)
    LOOP
        got := api(current_setting('dash.admin_key'), format('dashboard_violations_per_hour(%s, agent => %L, policy => %L, mode => %L, phase => %L)',
                   c.hours, c.agent, c.pol, c.m, c.ph));
        call := c.label;
        same := got -> 'series' = per_hour_raw(c.hours, c.agent, c.pol, c.m, c.ph)
                AND (got ->> 'from')::timestamptz = (date_trunc('hour', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') - (c.hours - 1) * interval '1 hour';
        some_series := jsonb_array_length(got -> 'series') > 0;
        RETURN NEXT;
    END LOOP;
END
$$;
SELECT set_config('dash.admin_key', :'admin_key', false) IS NOT NULL AS key_set;
-- 2,000 violations over the last 40 hours in one statement, then 20 of one row a statement
INSERT INTO execlave.violations (policy_id, policy_name, policy_type, mode, agent_id, agent_key, phase, message, recorded_by, created_at)
SELECT pl.id, pl.name, 'pii_detection', (ARRAY['log', 'flag', 'block'])[1 + g % 3], ag.id, ag.key,
       CASE WHEN g % 2 = 0 THEN 'ingestion' ELSE 'pre_execution' END, 'test', 'regress', now() - g * interval '72 seconds'
FROM generate_series(1, 2000) g
JOIN (SELECT id, name, row_number() OVER (ORDER BY name) % 3 AS i
      FROM (SELECT id, name FROM execlave.policies WHERE name IN ('no-pii', 'only-b')
            UNION ALL SELECT '00000000-0000-4000-8000-000000000001', 'dropped-policy') x) pl ON pl.i = g % 3
JOIN (SELECT id, key, row_number() OVER (ORDER BY key) % 2 AS i FROM execlave.agents WHERE key IN ('dash-a', 'dash-b')) ag ON ag.i = g % 2;
DO $$
BEGIN
    FOR i IN 1..20 LOOP
        INSERT INTO execlave.violations (policy_id, policy_name, policy_type, mode, agent_id, agent_key, phase, message, recorded_by, created_at)
        SELECT p.id, p.name, p.type, p.mode, a.id, a.key, 'ingestion', 'one', 'regress', now() - i * interval '13 minutes'
        FROM execlave.policies p, execlave.agents a WHERE p.name = 'no-pii' AND a.key = 'dash-a';
    END LOOP;
END
$$;
SELECT count(*) AS nothing_sealed_yet FROM execlave.violations_hourly_state;
SELECT * FROM per_hour_same();
SELECT sealed_until > now() - interval '1 hour' AND sealed_until <= now() AS sealed_to_this_hour,
       (SELECT sum(n) FROM execlave.violations_hourly) = (SELECT count(*) FROM execlave.violations v
                                                         WHERE v.created_at < s.sealed_until) AS hourly_counts_sealed_hours,
       (SELECT count(*) FROM execlave.violations_hourly) < (SELECT count(*) FROM execlave.violations) / 2 AS fewer_rows
FROM execlave.violations_hourly_state s;
-- after sealing: new violations (this hour) and the answer again
INSERT INTO execlave.violations (policy_id, policy_name, policy_type, mode, agent_id, agent_key, phase, message, recorded_by)
SELECT p.id, p.name, p.type, p.mode, a.id, a.key, 'pre_execution', 'new', 'regress'
FROM execlave.policies p, execlave.agents a WHERE p.name IN ('no-pii', 'only-b') AND a.key IN ('dash-a', 'dash-b');
SELECT * FROM per_hour_same() WHERE call IN ('24 h', '1 h', 'policy', 'phase');
-- a read-only transaction (GET through PostgREST) seals nothing and answers the same
BEGIN READ ONLY;
SELECT * FROM per_hour_same() WHERE call = '168 h';
COMMIT;
-- retention (execlave_maintenance deletes the oldest with this setting): those hours come from the violations
BEGIN;
SET LOCAL execlave.maintenance_in_progress = on;
DELETE FROM execlave.violations WHERE recorded_by = 'regress' AND created_at < now() - interval '20 hours 30 minutes';
COMMIT;
SELECT * FROM per_hour_same() WHERE call IN ('24 h', '168 h', 'mode');
DROP FUNCTION public.per_hour_same();
DROP FUNCTION public.per_hour_raw(integer, uuid, uuid, text, text);

-- Agent detail: usage against limits, policies that apply, grants, cost per day
SELECT execlave_create_policy('day-cap', 'cost_limit', 'block', '{"max_cost_per_day": 10}') IS NOT NULL AS created;
SELECT execlave_grant('dash-a', 'dash-b', '{read,invoke}', now() + interval '1 day') AS grant_id \gset
SELECT d ->> 'key' AS key, d -> 'usage' -> 'day' -> 'spendUsd' AS spend_today,
       (SELECT jsonb_agg(p ->> 'name' ORDER BY p ->> 'name') FROM jsonb_array_elements(d -> 'policies') p) AS policies,
       d -> 'grantsFrom' -> 0 ->> 'targetAgentKey' AS grant_to, d -> 'grantsFrom' -> 0 -> 'allowedActions' AS actions,
       jsonb_array_length(d -> 'grantsTo') AS grants_to_it
FROM api(:'admin_key', $$dashboard_agent('dash-a')$$) d;
SELECT api(:'admin_key', $$dashboard_agent('dash-b')$$) -> 'grantsTo' -> 0 ->> 'sourceAgentKey' AS granted_by;
SELECT c -> 'dailyCap' AS daily_cap, c -> 'monthlyCap' AS monthly_cap, jsonb_array_length(c -> 'days') AS days,
       c -> 'days' -> -1 -> 'costUsd' AS today, c -> 'days' -> -1 -> 'traces' AS traces_today
FROM api(:'admin_key', $$dashboard_cost_per_day('dash-a', 7)$$) c;
SELECT api(:'admin_key', $$dashboard_cost_per_day('dash-a', 91)$$) AS bad_days;
SELECT api(:'admin_key', format('dashboard_revoke_grant(%L)', :'grant_id')) -> 'revoked' AS revoked,
       api(:'admin_key', format('dashboard_revoke_grant(%L)', :'grant_id')) -> 'revoked' AS again;
SELECT revoked_by FROM execlave.grants WHERE id = :'grant_id';

-- Webhooks: health without secrets, test event, dead deliveries, redeliver
SET client_min_messages = error;
SELECT id AS hook FROM execlave_create_webhook('https://hooks.example.com/in') \gset
SET client_min_messages = warning;
SELECT w ->> 'url' AS url, w ? 'secret' AS shows_secret, w -> 'pending' AS pending, w -> 'dead' AS dead
FROM jsonb_array_elements(api(:'admin_key', 'dashboard_webhooks()') -> 'items') w WHERE w ->> 'id' = :'hook';
SELECT api(:'admin_key', format('dashboard_test_webhook(%L)', :'hook')) ? 'eventId' AS queued;
SELECT event_type, status FROM execlave.deliveries WHERE webhook_id = :'hook';
UPDATE execlave.deliveries SET status = 'dead', attempts = 8, last_error = 'HTTP 500' WHERE webhook_id = :'hook';
SELECT x ->> 'eventType' AS event, x ->> 'status' AS status, x ->> 'lastError' AS error
FROM jsonb_array_elements(api(:'admin_key', format('dashboard_deliveries(%L)', :'hook')) -> 'items') x;
SELECT api(:'admin_key', format('dashboard_redeliver(%s)', (SELECT id FROM execlave.deliveries WHERE webhook_id = :'hook'))) AS redelivered;
SELECT status, attempts FROM execlave.deliveries WHERE webhook_id = :'hook';
SELECT api(:'admin_key', format('dashboard_deliveries(%L, status => %L)', :'hook', 'lost')) ->> 'code' AS bad_status;
SELECT api(:'admin_key', format('dashboard_deliveries(%L)', gen_random_uuid())) ->> 'status' AS unknown_webhook;
SELECT api(:'admin_key', format('dashboard_set_webhook_active(%L, false)', :'hook')) AS disabled;
SELECT active, disabled_reason FROM execlave.webhooks WHERE id = :'hook';

-- API keys: created once, listed without the key, revoked
SELECT api(:'admin_key', $$dashboard_create_api_key('ci', 'prod', 'agent', 'dash-b')$$) ->> 'apiKey' AS new_key \gset
SELECT :'new_key' ~ '^ag_prod_[0-9A-Za-z]{40}$' AS key_format;
SELECT x ->> 'name' AS name, x ->> 'scope' AS scope, x ->> 'agentKey' AS agent, x ->> 'state' AS state,
       x -> 'current' AS current, x ? 'apiKey' OR x ? 'keyHash' AS shows_key
FROM jsonb_array_elements(api(:'admin_key', 'dashboard_api_keys("limit" => 500)') -> 'items') x WHERE x ->> 'name' IN ('ops', 'bot', 'ci') AND coalesce(x ->> 'agentKey', '') <> 'api-agent' ORDER BY 1;
SELECT api(:'admin_key', $$dashboard_create_api_key('x', 'Prod')$$) ->> 'code' AS bad_environment;
SELECT api(:'admin_key', $$dashboard_create_api_key('x', 'prod', 'agent', 'ghost')$$) ->> 'status' AS unknown_agent;
SELECT count(*) AS keys FROM execlave.api_keys WHERE name = 'x';
SELECT api(:'admin_key', format('dashboard_revoke_api_key(%L)', (SELECT id FROM execlave.api_keys WHERE name = 'ci'))) AS revoked;
SELECT api(:'new_key', 'dashboard_session()') AS revoked_key;

-- Approval requests: paged on the server by the status they show (a pending
-- one past its expiry shows as expired), newest first, with the total
SELECT execlave_create_policy('needs-human', 'tool_access', 'require_approval', '{"deny": ["refund*"]}', ARRAY['dash-a']) IS NOT NULL AS created;
SELECT count(*) AS requests FROM (SELECT execlave_enforce('dash-a', 'refund ' || g, NULL, 1, ARRAY['refund_order'], NULL)
                                   FROM generate_series(1, 5) g) e;
-- (this file's requests the newest, in order: refund 5 first)
UPDATE execlave.approvals SET requested_at = now() + substring(context ->> 'input' FROM '[0-9]+')::int * interval '1 second'
WHERE context ->> 'input' ~ '^refund [0-9]$';
SELECT execlave_deny(id, 'no') IS NOT NULL AS denied FROM execlave.approvals WHERE context ->> 'input' = 'refund 1';
UPDATE execlave.approvals SET expires_at = now() - interval '1 second' WHERE context ->> 'input' = 'refund 2';
-- (the inputs of this file's requests; the other files' requests are counted too)
SELECT st, p - 'items' AS page, (SELECT jsonb_agg(x -> 'actionContext' ->> 'input') FROM jsonb_array_elements(p -> 'items') x
                                 WHERE x -> 'actionContext' ->> 'input' ~ '^refund [0-9]$') AS inputs,
       (SELECT bool_and(x ->> 'approvalStatus' = CASE st WHEN 'all' THEN x ->> 'approvalStatus' ELSE st END) FROM jsonb_array_elements(p -> 'items') x) AS all_of_it
FROM (VALUES ('pending'), ('denied'), ('expired'), ('all'), ('consumed')) s(st),
     LATERAL api(:'admin_key', format('dashboard_approvals(%L)', st)) p;
SELECT api(:'admin_key', $$dashboard_approvals('pending', "limit" => 2, "offset" => 1)$$) - 'items' AS page,
       (SELECT jsonb_agg(x -> 'actionContext' ->> 'input') FROM jsonb_array_elements(api(:'admin_key', $$dashboard_approvals('pending', "limit" => 2, "offset" => 1)$$) -> 'items') x) AS second_page;
SELECT api(:'admin_key', $$dashboard_approvals('open')$$) ->> 'code' AS bad_status,
       api(:'admin_key', $$dashboard_approvals("limit" => 0)$$) ->> 'code' AS bad_limit;
SELECT execlave_drop_policy('needs-human');

-- Every dashboard function refuses an agent key with 403 and writes nothing
SELECT count(*) AS agents_paused FROM execlave.agents WHERE status = 'paused' \gset
SELECT p.proname, api(:'agent_key', p.proname || '(' || CASE p.proname
        WHEN 'dashboard_statuses' THEN '''{}'''
        WHEN 'dashboard_violation' THEN '1'
        WHEN 'dashboard_redeliver' THEN '1'
        WHEN 'dashboard_set_policy_active' THEN '''only-b'', false'
        WHEN 'dashboard_set_webhook_active' THEN quote_literal(:'hook') || ', false'
        WHEN 'dashboard_create_api_key' THEN '''x'', ''prod'''
        WHEN 'dashboard_update_policy' THEN '''only-b'', ''log'''
        WHEN 'dashboard_test_webhook' THEN quote_literal(:'hook')
        WHEN 'dashboard_deliveries' THEN quote_literal(:'hook')
        WHEN 'dashboard_revoke_grant' THEN quote_literal(:'grant_id')
        WHEN 'dashboard_revoke_api_key' THEN quote_literal((SELECT id FROM execlave.api_keys WHERE name = 'ops'))
        WHEN 'dashboard_drop_policy' THEN '''only-b'''
        ELSE CASE WHEN p.pronargs - p.pronargdefaults > 0 THEN '''dash-a''' ELSE '' END END || ')') ->> 'status' AS status
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'execlave_api' AND p.proname LIKE 'dashboard\_%' AND has_function_privilege('execlave_api_anon', p.oid, 'EXECUTE')
ORDER BY 1;
SELECT count(*) - :agents_paused AS paused_since, (SELECT active FROM execlave.policies WHERE name = 'only-b') AS policy_active,
       (SELECT count(*) FROM execlave.api_keys WHERE revoked_at IS NOT NULL AND name IN ('ops', 'bot', 'ci')) AS revoked_keys
FROM execlave.agents WHERE status = 'paused';
-- the internal helpers are not for the HTTP role
SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'execlave_api' AND p.proname LIKE 'dashboard\_%' AND NOT has_function_privilege('execlave_api_anon', p.oid, 'EXECUTE')
ORDER BY 1;

DROP FUNCTION public.api(text, text);
SELECT execlave_drop_policy(name) FROM execlave.policies WHERE name IN ('no-pii', 'only-b', 'day-cap');
