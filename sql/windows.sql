-- Windowed policies: rate_limit, cost_limit, budget_cap; cost.threshold,
-- pause_agent, trace.anomaly.  The clock is set with execlave.test_clock, so
-- nothing sleeps.  Each section uses its own agents.
SET execlave.anomaly_detection = off;
SET timezone = 'UTC';

-- Helpers: insert n traces (cost each) and say how many were accepted;
-- the events of a type for an agent.
CREATE FUNCTION public.put(agent text, n int, cost numeric DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    ok int := 0;
    refused text := '';
BEGIN
    FOR i IN 1..n LOOP
        BEGIN
            INSERT INTO execlave.traces (agent_key, input, cost_usd) VALUES (agent, 'hi', cost);
            ok := ok + 1;
        EXCEPTION WHEN SQLSTATE 'EX003' OR SQLSTATE 'EX001' THEN
            refused := refused || ' ' || SQLSTATE;
        END;
    END LOOP;
    RETURN ok || ' accepted' || CASE WHEN refused = '' THEN '' ELSE ', refused:' || refused END;
END
$$;
CREATE FUNCTION public.ev(etype text, agent text) RETURNS SETOF jsonb
LANGUAGE sql AS $$
    SELECT data - 'agent_id' - 'policy_id' - 'trace_id' FROM execlave.events
    WHERE event_type = etype AND data->>'agent_key' = agent ORDER BY id
$$;
CREATE FUNCTION public.usage(agent text) RETURNS TABLE (period text, period_start timestamptz, requests bigint, spend_usd numeric)
LANGUAGE sql AS $$ SELECT * FROM execlave_usage(agent) $$;

-------------------------------------------------------------------------------
-- Bad configs are refused, naming the key
-------------------------------------------------------------------------------
SELECT expect_error($$SELECT execlave.validate_policy('rate_limit', '{}')$$);
SELECT expect_error($$SELECT execlave.validate_policy('rate_limit', '{"max_requests_per_minute": 0}')$$);
SELECT expect_error($$SELECT execlave.validate_policy('rate_limit', '{"max_requests_per_minute": -5}')$$);
SELECT expect_error($$SELECT execlave.validate_policy('rate_limit', '{"max_requests_per_minute": 2.5}')$$);
SELECT expect_error($$SELECT execlave.validate_policy('rate_limit', '{"max_requests_per_hour": "100"}')$$);
SELECT expect_error($$SELECT execlave.validate_policy('rate_limit', '{"max_requests_per_day": 100}')$$);
SELECT expect_error($$SELECT execlave.validate_policy('cost_limit', '{}')$$);
SELECT expect_error($$SELECT execlave.validate_policy('cost_limit', '{"max_cost_per_day": -1}')$$);
SELECT expect_error($$SELECT execlave.validate_policy('cost_limit', '{"max_cost_per_trace": 1e12}')$$);
SELECT expect_error($$SELECT execlave.validate_policy('cost_limit', '{"max_cost_per_day": 5, "action": "explode"}')$$);
SELECT expect_error($$SELECT execlave.validate_policy('cost_limit', '{"max_cost_per_day": 5, "warning_thresholds": [0]}')$$);
SELECT expect_error($$SELECT execlave.validate_policy('cost_limit', '{"max_cost_per_day": 5, "warning_thresholds": [120]}')$$);
SELECT expect_error($$SELECT execlave.validate_policy('cost_limit', '{"max_cost_per_day": 5, "warning_thresholds": ["80"]}')$$);
SELECT expect_error($$SELECT execlave.validate_policy('cost_limit', '{"max_cost_per_day": 5, "warning_thresholds": 80}')$$);
SELECT expect_error($$SELECT execlave.validate_policy('cost_limit', '{"max_cost_per_day": 5, "scope": "policy"}')$$);
SELECT expect_error($$SELECT execlave.validate_policy('budget_cap', '{}')$$);
SELECT expect_error($$SELECT execlave.validate_policy('budget_cap', '{"max_cost_per_month": 100, "scope": "org"}')$$);
SELECT expect_error($$SELECT execlave.validate_policy('budget_cap', '{"max_cost_per_month": "NaN"}')$$);
SELECT execlave.validate_policy('budget_cap', '{"max_cost_per_month": 100, "scope": "policy", "warning_thresholds": [50, 80, 100, 80], "action": "warn"}') AS valid;
SELECT count(*) AS policies FROM execlave.policies;

-------------------------------------------------------------------------------
-- rate_limit: at, below and above the limit; minute and hour; roll-over
-------------------------------------------------------------------------------
SELECT execlave_register_agent('rate-agent') IS NOT NULL AS registered;
SELECT execlave_create_policy('rate', 'rate_limit', 'block', '{"max_requests_per_minute": 3, "max_requests_per_hour": 5}', ARRAY['rate-agent']) IS NOT NULL AS created;
SET execlave.test_clock = '2026-03-31 23:58:10';
SELECT put('rate-agent', 2) AS below_limit;
SELECT (execlave_enforce('rate-agent', 'hi'))->'allowed' AS third_would_be_allowed;
SELECT put('rate-agent', 1) AS at_limit;
SELECT (execlave_enforce('rate-agent', 'hi'))->'violations'->0->>'message' AS fourth_would_be_refused;
SELECT put('rate-agent', 1) AS above_limit;
SELECT message, details FROM execlave.violations WHERE agent_key = 'rate-agent' AND phase = 'ingestion' ORDER BY id;
SELECT * FROM usage('rate-agent');
-- the last microsecond of the minute is still the same minute; the next one is a new one
SET execlave.test_clock = '2026-03-31 23:58:59.999999';
SELECT put('rate-agent', 1) AS same_minute;
SET execlave.test_clock = '2026-03-31 23:59:00';
SELECT put('rate-agent', 3) AS next_minute_hour_limit_5;
SELECT message FROM execlave.violations WHERE agent_key = 'rate-agent' AND phase = 'ingestion' ORDER BY id DESC LIMIT 1;
SET execlave.test_clock = '2026-04-01 00:00:00';
SELECT put('rate-agent', 3) AS next_hour;
SELECT * FROM usage('rate-agent');
-- log mode: over the limit is recorded, the trace is accepted and counted
SELECT execlave_update_policy('rate', mode => 'log') IS NOT NULL AS updated;
SELECT put('rate-agent', 2) AS log_mode;
SELECT requests FROM usage('rate-agent') WHERE period = 'minute';
SELECT count(*) AS log_violations FROM execlave.violations WHERE agent_key = 'rate-agent' AND mode = 'log';

-------------------------------------------------------------------------------
-- cost_limit: per trace and per UTC day, at, below and above; thresholds
-------------------------------------------------------------------------------
SELECT execlave_register_agent('cost-agent') IS NOT NULL AS registered;
SELECT execlave_create_policy('cost', 'cost_limit', 'block', '{"max_cost_per_trace": 2, "max_cost_per_day": 10}', ARRAY['cost-agent']) IS NOT NULL AS created;
SET execlave.test_clock = '2026-05-10 12:00:00';
SELECT put('cost-agent', 1, 2.000000001) AS above_per_trace;
SELECT put('cost-agent', 1, 2) AS at_per_trace;
SELECT put('cost-agent', 3, 2) AS to_eight_dollars;
SELECT ev('cost.threshold', 'cost-agent') AS threshold_80;
SELECT put('cost-agent', 1, 1.99) AS below_daily_cap;
SELECT put('cost-agent', 1, 0.02) AS above_daily_cap;
SELECT put('cost-agent', 1, 0.01) AS at_daily_cap;
SELECT spend_usd FROM usage('cost-agent') WHERE period = 'day';
SELECT ev('cost.threshold', 'cost-agent') AS thresholds_once_each;
SELECT put('cost-agent', 1, 0) AS free_trace_at_cap;
SELECT message FROM execlave.violations WHERE agent_key = 'cost-agent' ORDER BY id;
-- pre-execution: the estimate counts against what remains; no estimate means nothing left
SELECT (execlave_enforce('cost-agent', 'hi', estimated_cost => 0.5))->'violations'->0->>'message' AS estimate_over;
SELECT (execlave_enforce('cost-agent', 'hi'))->'violations'->0->>'message' AS no_estimate_nothing_left;
SELECT count(*) AS enforce_counted_nothing FROM execlave.traces WHERE agent_key = 'cost-agent';
-- the next UTC day starts from zero and its thresholds fire again
SET execlave.test_clock = '2026-05-10 23:59:59.999999';
SELECT put('cost-agent', 1, 1) AS same_day;
SET execlave.test_clock = '2026-05-11 00:00:00';
SELECT (execlave_enforce('cost-agent', 'hi', estimated_cost => 1.5))->'allowed' AS new_day_estimate_allowed;
SELECT put('cost-agent', 5, 1.6) AS next_day;
SELECT count(*) AS thresholds_both_days, count(DISTINCT data->>'window_start') AS windows FROM execlave.events
WHERE event_type = 'cost.threshold' AND data->>'agent_key' = 'cost-agent';

-------------------------------------------------------------------------------
-- budget_cap: calendar month, per agent and shared by the policy's agents
-------------------------------------------------------------------------------
SELECT execlave_register_agent('budget-a') IS NOT NULL AS a, execlave_register_agent('budget-b') IS NOT NULL AS b;
SELECT execlave_create_policy('shared-budget', 'budget_cap', 'block', '{"max_cost_per_month": 100, "scope": "policy", "warning_thresholds": [50, 100]}', ARRAY['budget-a', 'budget-b']) IS NOT NULL AS created;
SET execlave.test_clock = '2026-02-28 23:59:59.999999';
SELECT put('budget-a', 1, 60) AS a_60, put('budget-b', 1, 40) AS b_40_reaches_cap, put('budget-a', 1, 0.000000001) AS a_over;
SELECT data->>'agent_key' AS agent, data->>'percent' AS percent, data->>'spend_usd' AS shared_spend, data->>'scope' AS scope
FROM execlave.events WHERE event_type = 'cost.threshold' AND data->>'policy_name' = 'shared-budget' ORDER BY id;
SET execlave.test_clock = '2026-03-01 00:00:00';
SELECT put('budget-b', 1, 100) AS new_month_b_100, put('budget-a', 1, 1) AS a_refused;
-- per agent
SELECT execlave_drop_policy('shared-budget');
SELECT execlave_create_policy('own-budget', 'budget_cap', 'flag', '{"max_cost_per_month": 100}', ARRAY['budget-a', 'budget-b']) IS NOT NULL AS created;
SELECT put('budget-a', 1, 100) AS a_at_own_cap, put('budget-a', 1, 1) AS a_over_flagged;
SELECT status FROM execlave.traces WHERE agent_key = 'budget-a' ORDER BY ingested_at DESC, status LIMIT 1;
SELECT spend_usd FROM usage('budget-a') WHERE period = 'month';
SELECT spend_usd FROM usage('budget-b') WHERE period = 'month';

-------------------------------------------------------------------------------
-- Actions: warn never refuses; pause_agent pauses through the kill switch
-------------------------------------------------------------------------------
SELECT execlave_register_agent('warn-agent') IS NOT NULL AS registered;
SELECT execlave_create_policy('warn-cap', 'cost_limit', 'block', '{"max_cost_per_day": 1, "action": "warn"}', ARRAY['warn-agent']) IS NOT NULL AS created;
SET execlave.test_clock = '2026-06-01 08:00:00';
SELECT put('warn-agent', 3, 0.5) AS warn_accepts_all;
SELECT mode, message FROM execlave.violations WHERE agent_key = 'warn-agent';

SELECT execlave_register_agent('pause-agent') IS NOT NULL AS registered;
SELECT execlave_create_policy('pause-cap', 'budget_cap', 'log', '{"max_cost_per_month": 5, "action": "pause_agent"}', ARRAY['pause-agent']) IS NOT NULL AS created;
SELECT put('pause-agent', 1, 4) AS below, put('pause-agent', 1, 1) AS reaches_cap, put('pause-agent', 1, 1) AS after_pause;
SELECT status, pause_reason FROM execlave.agents WHERE key = 'pause-agent';
SELECT data->>'reason' AS paused_event_reason FROM execlave.events WHERE event_type = 'agent.paused' AND data->>'agent_key' = 'pause-agent';
SELECT execlave_resume_agent('pause-agent') AS resumed;
-- block mode: the refused trace's violation is recorded durably, and so is the pause
SELECT execlave_update_policy('pause-cap', mode => 'block') IS NOT NULL AS updated;
SELECT put('pause-agent', 1, 1) AS refused_and_paused;
SELECT status, pause_reason FROM execlave.agents WHERE key = 'pause-agent';
SELECT execlave_resume_agent('pause-agent') AS resumed;

-- pause_agent pauses on reaching the cap even when 100 is not among the thresholds
SELECT execlave_register_agent('pause-b') IS NOT NULL AS registered;
SELECT execlave_create_policy('pause-b-cap', 'cost_limit', 'log', '{"max_cost_per_day": 2, "warning_thresholds": [50], "action": "pause_agent"}', ARRAY['pause-b']) IS NOT NULL AS created;
-- (a trace id with a quote travels into the cost.threshold event intact)
INSERT INTO execlave.traces (trace_id, agent_key, cost_usd) VALUES ('tr_"quoted"', 'pause-b', 1.5);
SELECT data->>'trace_id' AS threshold_trace_id, data->>'percent' AS percent FROM execlave.events
WHERE event_type = 'cost.threshold' AND data->>'agent_key' = 'pause-b';
SELECT status AS before_cap FROM execlave.agents WHERE key = 'pause-b';
SELECT put('pause-b', 1, 0.5) AS reaches_cap, put('pause-b', 1, 0.5) AS refused_after;
SELECT status, pause_reason FROM execlave.agents WHERE key = 'pause-b';
-- infinite costs and durations are refused (they would poison the sums and statistics)
SELECT expect_error($$INSERT INTO execlave.traces (agent_key, cost_usd) VALUES ('rate-agent', 'Infinity')$$);
SELECT expect_error($$INSERT INTO execlave.traces (agent_key, duration_ms) VALUES ('rate-agent', 'Infinity')$$);

-------------------------------------------------------------------------------
-- Transactions: a rolled-back trace is not counted (also in a savepoint)
-------------------------------------------------------------------------------
SELECT execlave_register_agent('tx-agent') IS NOT NULL AS registered;
SELECT execlave_create_policy('tx-rate', 'rate_limit', 'block', '{"max_requests_per_minute": 2}', ARRAY['tx-agent']) IS NOT NULL AS created;
SET execlave.test_clock = '2026-07-01 10:00:00';
BEGIN;
SELECT put('tx-agent', 2) AS in_rolled_back_transaction;
ROLLBACK;
SELECT requests FROM usage('tx-agent') WHERE period = 'minute';
BEGIN;
SELECT put('tx-agent', 1) AS kept;
SAVEPOINT s;
SELECT put('tx-agent', 1) AS in_savepoint;
ROLLBACK TO SAVEPOINT s;
SELECT put('tx-agent', 1) AS after_savepoint_rollback;
COMMIT;
SELECT requests FROM usage('tx-agent') WHERE period = 'minute';
SELECT put('tx-agent', 1) AS third_refused;
-- nested savepoints: a released child's additions go with its parent
SELECT execlave_register_agent('nest-agent') IS NOT NULL AS registered;
SELECT execlave_create_policy('nest-rate', 'rate_limit', 'log', '{"max_requests_per_minute": 100000}', ARRAY['nest-agent']) IS NOT NULL AS created;
BEGIN;
SELECT put('nest-agent', 1) AS top_level;
SAVEPOINT a;
SELECT put('nest-agent', 1) AS in_a;
SAVEPOINT b;
SELECT put('nest-agent', 2) AS in_b_released_into_a;
RELEASE SAVEPOINT b;
SAVEPOINT c;
SELECT put('nest-agent', 1) AS in_c_rolled_back;
ROLLBACK TO SAVEPOINT c;
SELECT put('nest-agent', 1) AS in_a_again;
ROLLBACK TO SAVEPOINT a;
SAVEPOINT d;
SELECT put('nest-agent', 3) AS in_d_released;
RELEASE SAVEPOINT d;
COMMIT;
SELECT requests AS four_counted FROM usage('nest-agent') WHERE period = 'minute';
-- 3000 subtransactions in one transaction, every third rolled back after its insert
DO $$
BEGIN
    FOR i IN 1..3000 LOOP
        BEGIN
            INSERT INTO execlave.traces (agent_key) VALUES ('nest-agent');
            IF i % 3 = 0 THEN
                RAISE EXCEPTION 'undo';
            END IF;
        EXCEPTION WHEN raise_exception THEN
            NULL;
        END;
    END LOOP;
END
$$;
SELECT requests AS counted, (SELECT count(*) FROM execlave.traces WHERE agent_key = 'nest-agent') AS stored
FROM usage('nest-agent') WHERE period = 'minute';

-------------------------------------------------------------------------------
-- trace.anomaly: not before the warm-up, then > k standard deviations; one per minute
-------------------------------------------------------------------------------
SET execlave.anomaly_detection = on;
SET execlave.anomaly_warmup = 10;
SET execlave.test_clock = '2026-08-01 09:00:00';
-- during the warm-up even a huge value is no anomaly
SELECT execlave_register_agent('anomaly-early') IS NOT NULL AS registered;
INSERT INTO execlave.traces (agent_key, duration_ms, total_tokens)
SELECT 'anomaly-early', 100 + (i % 5), 500 FROM generate_series(1, 8) i;
INSERT INTO execlave.traces (agent_key, duration_ms, total_tokens) VALUES ('anomaly-early', 100000, 90000);
SELECT count(*) AS anomalies_during_warmup FROM execlave.events WHERE event_type = 'trace.anomaly' AND data->>'agent_key' = 'anomaly-early';
-- after it: a normal trace is none, a spike is one per metric
SELECT execlave_register_agent('anomaly-agent') IS NOT NULL AS registered;
INSERT INTO execlave.traces (agent_key, duration_ms, total_tokens, cost_usd)
SELECT 'anomaly-agent', 100 + (i % 5), 500 + (i % 7), 0.01 FROM generate_series(1, 40) i;
SELECT metric, observations, round(mean::numeric, 2) AS mean FROM execlave_anomaly_baseline('anomaly-agent') ORDER BY metric;
INSERT INTO execlave.traces (agent_key, duration_ms, total_tokens, cost_usd) VALUES ('anomaly-agent', 103, 505, 0.0101);
SELECT count(*) AS anomalies_for_normal_trace FROM execlave.events WHERE event_type = 'trace.anomaly' AND data->>'agent_key' = 'anomaly-agent';
INSERT INTO execlave.traces (trace_id, agent_key, duration_ms, total_tokens, cost_usd) VALUES ('tr_spike', 'anomaly-agent', 5000, 40000, 0.01);
SELECT data->>'metric' AS metric, (data->>'score')::float8 > 4 AS above_k, data->>'threshold' AS k, data->>'value' AS value,
       round((data->>'baseline_mean')::numeric, 0) AS baseline, data->>'trace_id' AS trace
FROM execlave.events WHERE event_type = 'trace.anomaly' AND data->>'agent_key' = 'anomaly-agent' ORDER BY id;
-- the spike does not drag the baseline up (values are capped at mean + k sd when folded in)
SELECT metric, round(mean::numeric, 0) AS mean_after_spike FROM execlave_anomaly_baseline('anomaly-agent') WHERE metric IN ('latency_ms', 'total_tokens') ORDER BY metric;
-- a second spike in the same minute is not signalled again; the next minute it is
INSERT INTO execlave.traces (agent_key, duration_ms) VALUES ('anomaly-agent', 9000);
SELECT count(*) AS still_two FROM execlave.events WHERE event_type = 'trace.anomaly' AND data->>'agent_key' = 'anomaly-agent';
SET execlave.test_clock = '2026-08-01 09:01:00';
INSERT INTO execlave.traces (agent_key, duration_ms) VALUES ('anomaly-agent', 9000);
SELECT count(*) AS latency_anomalies FROM execlave.events WHERE event_type = 'trace.anomaly' AND data->>'agent_key' = 'anomaly-agent' AND data->>'metric' = 'latency_ms';
-- an error-rate spike
INSERT INTO execlave.traces (agent_key, status) SELECT 'anomaly-agent', 'error' FROM generate_series(1, 6);
SELECT data->>'metric' AS metric, data->>'value' AS recent_error_rate, (data->>'score')::float8 > 4 AS above_k FROM execlave.events
WHERE event_type = 'trace.anomaly' AND data->>'agent_key' = 'anomaly-agent' AND data->>'metric' = 'error_rate';
-- anomalies are signals: the traces were all accepted, no violation recorded
SELECT count(*) AS violations FROM execlave.violations WHERE agent_key IN ('anomaly-agent', 'anomaly-early');
RESET execlave.anomaly_warmup;
SET execlave.anomaly_detection = off;

-------------------------------------------------------------------------------
-- Errors and roles
-------------------------------------------------------------------------------
SELECT expect_error($$SELECT * FROM execlave_usage('no-such-agent')$$);
SELECT expect_error($$SELECT * FROM execlave_usage(NULL)$$);
SELECT expect_error($$SET execlave.test_clock = 'yesterday'$$);
SELECT expect_error($$SET execlave.test_clock = '2026-02-30 00:00:00'$$);
RESET execlave.test_clock;
CREATE ROLE regress_wnd_app LOGIN IN ROLE execlave_app;
SET ROLE regress_wnd_app;
SELECT count(*) AS app_reads_usage FROM execlave_usage('rate-agent');
SELECT expect_error($$SET execlave.test_clock = '2026-01-01 00:00:00'$$);
SELECT expect_error($$SELECT execlave.pause_for_policy((SELECT id FROM execlave.agents WHERE key = 'rate-agent'), 'x')$$);
SELECT expect_error($$SELECT execlave.emit_signals('cost.threshold', gen_random_uuid(), '[]')$$);
RESET ROLE;
DROP ROLE regress_wnd_app;

-------------------------------------------------------------------------------
-- A counter rebuild resolves nothing planted on the inserting session's
-- search_path: a role that may create in public plants sum, count and >=
-- that an inserting session with public first on its path would resolve
-- (the rebuild runs in that session, and its counters are shared by all).
-------------------------------------------------------------------------------
CREATE ROLE regress_wnd_planter;
GRANT CREATE ON SCHEMA public TO regress_wnd_planter;
SET ROLE regress_wnd_planter;
CREATE FUNCTION public.plant_add(numeric, numeric) RETURNS numeric LANGUAGE sql AS 'SELECT $1 + $2';
CREATE AGGREGATE public.sum(numeric) (sfunc = public.plant_add, stype = numeric, initcond = '1000');
CREATE FUNCTION public.plant_count(bigint) RETURNS bigint LANGUAGE sql AS 'SELECT $1 + 1';
CREATE AGGREGATE public.count(*) (sfunc = public.plant_count, stype = bigint, initcond = '500');
CREATE FUNCTION public.plant_ge(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR public.>= (leftarg = timestamptz, rightarg = timestamptz, function = public.plant_ge);
RESET ROLE;
SELECT execlave_register_agent('rebuild-agent') IS NOT NULL AS registered;
SELECT execlave_create_policy('rebuild-budget', 'budget_cap', 'block', '{"max_cost_per_month": 10}', ARRAY['rebuild-agent']) IS NOT NULL AS created,
       execlave_create_policy('rebuild-rate', 'rate_limit', 'block', '{"max_requests_per_minute": 5}', ARRAY['rebuild-agent']) IS NOT NULL AS created;
SET execlave.test_clock = '2026-10-10 10:10:10';
SET search_path = public, pg_catalog;
-- the agent's first windowed trace rebuilds its counters from the (no) traces
SELECT put('rebuild-agent', 1, 1);
RESET search_path;
SELECT period, requests, spend_usd FROM usage('rebuild-agent') ORDER BY period_start DESC, period;
RESET execlave.test_clock;
DROP AGGREGATE public.sum(numeric);
DROP AGGREGATE public.count(*);
DROP OPERATOR public.>= (timestamptz, timestamptz);
DROP FUNCTION public.plant_add(numeric, numeric), public.plant_count(bigint), public.plant_ge(timestamptz, timestamptz);
REVOKE CREATE ON SCHEMA public FROM regress_wnd_planter;
DROP ROLE regress_wnd_planter;
DROP FUNCTION public.put(text, int, numeric), public.ev(text, text), public.usage(text);
