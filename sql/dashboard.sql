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
