-- A catalogue of malformed calls across the public functions: each is
-- refused with a clear message and its documented SQLSTATE, and nothing is
-- written (the row counts of every execlave table are the same after).
SET client_min_messages = warning;
SELECT execlave_register_agent('bad-a') IS NOT NULL AS a, execlave_register_agent('bad-b') IS NOT NULL AS b;
CREATE FUNCTION public.row_counts() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    t text;
    n bigint;
    out text := '';
BEGIN
    FOR t IN SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'execlave'::regnamespace
             AND c.relkind IN ('r', 'p') AND c.relname NOT LIKE 'traces\_p%' ORDER BY 1 LOOP
        EXECUTE format('SELECT count(*) FROM execlave.%I', t) INTO n;
        out := out || t || '=' || n || ' ';
    END LOOP;
    RETURN out;
END
$$;
SELECT row_counts() AS before \gset
CREATE TEMP TABLE bad (n serial, call text, outcome text);
-- (partition names carry the date: shown as traces_pYYYYMMDD)
CREATE FUNCTION public.try(stmt text) RETURNS void LANGUAGE sql AS $$
    INSERT INTO bad (call, outcome) VALUES (left(stmt, 90), regexp_replace(expect_error(stmt), 'traces_p[0-9]+', 'traces_pYYYYMMDD', 'g'))
$$;

-- NULLs
SELECT try($$SELECT execlave_register_agent(NULL)$$);
SELECT try($$SELECT execlave_pause_agent(NULL, 'x')$$);
SELECT try($$SELECT execlave_pause_agent('bad-a', NULL)$$);
SELECT try($$SELECT execlave_resume_agent(NULL)$$);
SELECT try($$SELECT execlave_agent_status(NULL)$$);
SELECT try($$SELECT execlave_assert_active(NULL)$$);
SELECT try($$SELECT execlave_submit_trace(NULL, '{}')$$);
SELECT try($$SELECT execlave_grant('bad-a', 'bad-b', NULL)$$);
SELECT try($$SELECT execlave_grant(NULL, 'bad-b', ARRAY['read'])$$);
SELECT try($$SELECT execlave_revoke(NULL::uuid)$$);
SELECT try($$SELECT execlave_authorize('bad-a', 'bad-b', NULL)$$);
SELECT try($$SELECT execlave_create_policy(NULL, 'token_limit', 'log', '{"max_total_tokens": 1}')$$);
SELECT try($$SELECT execlave_create_policy('p', 'token_limit', 'log', NULL)$$);
SELECT try($$SELECT execlave_enforce('bad-a', NULL)$$);
SELECT try($$SELECT execlave_create_webhook(NULL)$$);
SELECT try($$SELECT execlave_create_api_key('k', NULL, 'admin')$$);
SELECT try($$SELECT execlave_schedule_maintenance(NULL)$$);
-- empty and 1 MB strings
SELECT try($$SELECT execlave_register_agent('')$$);
SELECT try($$SELECT execlave_register_agent(repeat('a', 1048576))$$);
SELECT try($$SELECT execlave_pause_agent('bad-a', '')$$);
SELECT try($$SELECT execlave_pause_agent('bad-a', '   ')$$);
SELECT try($$SELECT execlave_pause_agent('bad-a', repeat('r', 1048576))$$);
SELECT try($$SELECT execlave_agent_status(repeat('k', 1048576))$$);
SELECT try($$SELECT execlave_create_policy('', 'token_limit', 'log', '{"max_total_tokens": 1}')$$);
SELECT try($$SELECT execlave_create_policy(repeat('p', 1048576), 'token_limit', 'log', '{"max_total_tokens": 1}')$$);
SELECT try($$SELECT execlave_create_webhook('https://example.com/' || repeat('x', 1048576))$$);
SELECT try($$SELECT execlave_create_api_key('', 'prod', 'admin')$$);
-- malformed UUIDs and unknown references
SELECT try($$SELECT execlave_agent_status('00000000-0000-0000-0000-00000000000g')$$);
SELECT try($$SELECT execlave_agent_status('00000000-0000-0000-0000-000000000000')$$);
SELECT try($$SELECT execlave_revoke('not-a-uuid'::uuid)$$);
SELECT try($$SELECT execlave_revoke('00000000-0000-0000-0000-000000000000'::uuid)$$);
SELECT try($$SELECT execlave_update_webhook('00000000-0000-0000-0000-000000000000', description => 'x')$$);
SELECT try($$SELECT execlave_redeliver(0)$$);
SELECT try($$SELECT execlave_drop_policy('no such policy')$$);
SELECT try($$SELECT execlave_revoke_api_key('ag_prod_missing')$$);
SELECT try($$SELECT * FROM execlave_usage('nobody')$$);
-- unknown actions, types, modes, events
SELECT try($$SELECT execlave_grant('bad-a', 'bad-b', ARRAY['fly'])$$);
SELECT try($$SELECT execlave_grant('bad-a', 'bad-b', ARRAY['read', 'read'])$$);
SELECT try($$SELECT execlave_grant('bad-a', 'bad-b', '{}'::text[])$$);
SELECT try($$SELECT execlave_grant('bad-a', 'bad-b', ARRAY[NULL::text])$$);
SELECT try($$SELECT execlave_grant('bad-a', 'bad-b', ARRAY[['read'], ['write']])$$);
SELECT try($$SELECT execlave_authorize('bad-a', 'bad-b', 'teleport')$$);
SELECT try($$SELECT execlave_create_policy('p', 'telepathy', 'log', '{}')$$);
SELECT try($$SELECT execlave_create_policy('p', 'token_limit', 'shout', '{"max_total_tokens": 1}')$$);
SELECT try($$SELECT execlave_create_webhook('https://example.com/', ARRAY['agent.exploded'])$$);
SELECT try($$SELECT execlave_create_webhook('https://example.com/', ARRAY[NULL::text])$$);
SELECT try($$SELECT execlave_create_api_key('k', 'prod', 'root')$$);
-- invalid URLs and secrets
SELECT try($$SELECT execlave_create_webhook('javascript:alert(1)')$$);
SELECT try($$SELECT execlave_create_webhook('http://')$$);
SELECT try($$SELECT execlave_create_webhook('https://ex ample.com/')$$);
SELECT try($$SELECT execlave_create_webhook('https://example.com/' || chr(10) || 'x')$$);
SELECT try($$SELECT execlave_create_webhook('https://example.com/', NULL, 'whsec_')$$);
SELECT try($$SELECT execlave_create_webhook('https://example.com/', NULL, 'no-prefix')$$);
-- names full of quotes and semicolons
SELECT try($$SELECT execlave_register_agent('a''; DROP TABLE execlave.agents; --')$$);
SELECT try($$SELECT execlave_agent_status('"; SELECT 1; --')$$);
SELECT try($$SELECT execlave_create_api_key('k', 'prod''; --', 'admin')$$);
SELECT try($$SELECT execlave_create_policy('p', 'token_limit'';--', 'log', '{}')$$);
-- negative, NaN and infinite costs; expiries in the past
SELECT try($$SELECT execlave_enforce('bad-a', 'x', estimated_cost => -0.01)$$);
SELECT try($$SELECT execlave_enforce('bad-a', 'x', estimated_cost => 'NaN')$$);
SELECT try($$SELECT execlave_enforce('bad-a', 'x', estimated_cost => 'Infinity')$$);
SELECT try($$SELECT execlave_submit_trace('bad-a', '{"cost_usd": -1}')$$);
SELECT try($$SELECT execlave_submit_trace('bad-a', '{"cost_usd": "NaN"}')$$);
SELECT try($$SELECT execlave_submit_trace('bad-a', '{"cost_usd": "Infinity"}')$$);
SELECT try($$SELECT execlave_submit_trace('bad-a', '{"duration_ms": -5}')$$);
SELECT try($$SELECT execlave.validate_policy('cost_limit', '{"max_cost_per_day": -1}')$$);
SELECT try($$SELECT execlave_grant('bad-a', 'bad-b', ARRAY['read'], now() - interval '1 second')$$);
SELECT try($$SELECT execlave_create_api_key('k', 'prod', 'admin', NULL, '2000-01-01')$$);
-- non-object and deeply nested JSON, wrong element types
SELECT try($$SELECT execlave_submit_trace('bad-a', '[1, 2]')$$);
SELECT try($$SELECT execlave_submit_trace('bad-a', '"text"')$$);
SELECT try($$SELECT execlave_submit_trace('bad-a', '{"no_such_field": 1}')$$);
SELECT try($$SELECT execlave_submit_trace('bad-a', '{"total_tokens": "many"}')$$);
SELECT try($$SELECT execlave_submit_trace('bad-a', '{"tools": "search"}')$$);
SELECT try($$SELECT execlave_submit_trace('bad-a', ('{"metadata": ' || repeat('[', 5000) || repeat(']', 5000) || '}')::jsonb)$$);
SELECT try($$SELECT execlave_submit_trace('bad-a', ('{"metadata": ' || repeat('{"a": ', 5000) || '1' || repeat('}', 5000) || ', "cost_usd": -1}')::jsonb)$$);
SELECT try($$SELECT execlave_register_agent('bad-c', metadata => '[]')$$);
SELECT try($$SELECT execlave_enforce('bad-a', 'x', metadata => '"scalar"')$$);
SELECT try($$SELECT execlave_enforce('bad-a', 'x', metadata => '{"total_tokens": -3}')$$);
SELECT try($$SELECT execlave_create_policy('p', 'token_limit', 'log', '[1]')$$);
SELECT try($$SELECT execlave_create_policy('p', 'prompt_injection', 'log', '{"threshold": "high"}')$$);
SELECT try($$SELECT execlave_create_policy('p', 'prompt_injection', 'log', '{"patterns": [1, 2]}')$$);
SELECT try($$SELECT execlave_create_policy('p', 'pii_detection', 'log', '{"types": ["email", 7]}')$$);
SELECT try($$SELECT execlave_create_policy('p', 'tool_access', 'log', '{"allow": "search"}')$$);
SELECT try($$SELECT execlave_create_policy('p', 'rate_limit', 'log', '{"max_requests_per_minute": {"a": 1}}')$$);
SELECT try($$SELECT execlave_enforce('bad-a', 'x', tools => ARRAY[NULL::text])$$);
-- found by fuzzing (0.1.1): URLs whose stored form would be too long, not
-- ASCII or not stable; numbers judged on their exact value; long values in
-- messages cut on a character boundary
SELECT try($$SELECT execlave_create_webhook('http://' || repeat('a', 2041))$$);
SELECT try($$SELECT execlave_create_webhook('http://ex%C3%A9mple.com/')$$);
SELECT try($$SELECT execlave_create_webhook('http://0x%41/')$$);
SELECT try($$SELECT execlave.webhook_address_refusal('10.0.0.256')$$);
SELECT try($$SELECT execlave.validate_policy('token_limit', '{"max_total_tokens": 2.0000000000000001}')$$);
SELECT try($$SELECT execlave.validate_policy('token_limit', '{"max_total_tokens": -1e-400}')$$);
SELECT try($$SELECT execlave.validate_policy('rate_limit', '{"max_requests_per_minute": 0.99999999999999999}')$$);
SELECT try($$SELECT execlave.validate_policy('prompt_injection', '{"threshold": 1.00000000000000001}')$$);
SELECT try($$SELECT execlave.validate_policy('cost_limit', '{"max_cost_per_day": 1000000000.00000005}')$$);
SELECT try($$SELECT execlave.validate_policy('cost_limit', '{"max_cost_per_day": 1, "warning_thresholds": [0.99999999999999999]}')$$);
SELECT try($$SELECT execlave.validate_policy('cost_limit', ('{"max_cost_per_day": 1, "action": "x' || repeat('é', 240) || '"}')::jsonb)$$);

-- 0.1.2: trace times outside the accepted window, the agent state, maintenance
SELECT try($$INSERT INTO execlave.traces (agent_key, started_at) VALUES ('bad-a', 'infinity')$$);
SELECT try($$INSERT INTO execlave.traces (agent_key, started_at) VALUES ('bad-a', '-infinity')$$);
SELECT try($$INSERT INTO execlave.traces (agent_key, started_at) VALUES ('bad-a', '294276-12-31 23:59:59+00')$$);
SELECT try($$INSERT INTO execlave.traces (agent_key, started_at) VALUES ('bad-a', '2099-01-01 00:00:00+00')$$);
SELECT try($$INSERT INTO execlave.traces (agent_key, started_at) VALUES ('bad-a', '1999-01-01 00:00:00+00')$$);
SELECT try($$INSERT INTO execlave.traces (agent_key, started_at) VALUES ('bad-a', now()), ('bad-a', 'infinity')$$);
SELECT try($$SELECT execlave_submit_trace('bad-a', '{"started_at": "2100-01-01T00:00:00Z"}')$$);
SELECT try($$SELECT execlave_submit_trace('bad-a', '{"started_at": "infinity"}')$$);
SELECT try($$SELECT * FROM execlave_agent_state(NULL)$$);
SELECT try($$SELECT * FROM execlave_agent_state('no-such-agent')$$);
SELECT try($$SELECT * FROM execlave_agent_state('bad key!')$$);
SELECT try($$SELECT execlave.add_trace_partition(NULL, '2026-01-02 00:00:00+00', '20260101')$$);
SELECT try($$SELECT execlave.add_trace_partition('2026-01-01 00:00:00+00', '2026-01-02 00:00:00+00', 'x; DROP TABLE y')$$);
SELECT try($$SELECT * FROM execlave.maintenance_plan('nope')$$);

SELECT n, outcome FROM bad ORDER BY n;
SELECT count(*) AS calls, count(*) FILTER (WHERE outcome LIKE 'no error%') AS accepted,
       count(DISTINCT split_part(outcome, ':', 1)) AS distinct_sqlstates FROM bad;
SELECT row_counts() = :'before' AS nothing_written;
DROP FUNCTION public.try(text), public.row_counts();
