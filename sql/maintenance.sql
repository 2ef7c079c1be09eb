-- Maintenance: partitions of execlave.traces (created ahead, rows moved out of
-- the default partition, retention by dropping whole partitions), purges of
-- what accumulates, pg_cron scheduling without pg_cron, the DBA views.
SET client_min_messages = warning;
SET timezone = 'UTC';
-- (traces months away from today are accepted: the window is widened)
SET execlave.trace_max_future = '100d';
SET execlave.trace_max_age_days = 3650;

-- Helper: the summary without timings and settings.
CREATE FUNCTION public.maint() RETURNS jsonb LANGUAGE sql AS $$
    SELECT execlave_maintenance() - 'took_ms' - 'settings' - 'run_id'
$$;
CREATE FUNCTION public.parts() RETURNS TABLE (partition_name text, range_start timestamptz, range_end timestamptz)
LANGUAGE sql AS $$
    SELECT partition_name, range_start, range_end FROM execlave.trace_partitions() ORDER BY range_start NULLS FIRST
$$;

SELECT relkind FROM pg_class WHERE oid = 'execlave.traces'::regclass;
SELECT partition_name, is_default FROM execlave.trace_partitions();

-- Traces whose day has no partition are accepted into the default partition
SELECT execlave_register_agent('maint-agent') IS NOT NULL AS registered;
INSERT INTO execlave.traces (trace_id, agent_key, started_at, cost_usd)
SELECT 'tr_maint_' || i, 'maint-agent', now() - make_interval(days => i), 1 FROM generate_series(0, 3) i;
INSERT INTO execlave.traces (trace_id, agent_key, started_at) VALUES ('tr_maint_old', 'maint-agent', now() - interval '45 days');
INSERT INTO execlave.traces (trace_id, agent_key, started_at) VALUES ('tr_maint_future', 'maint-agent', now() + interval '20 days');
-- (with the traces of the earlier tests)
SELECT count(*) AS in_default FROM execlave.traces_default \gset
SELECT :in_default >= 6 AS all_in_default;

-- The first run: partitions for the rows' days and for today + 7 days; the
-- 45-day-old row's partition is past the 30-day retention and is dropped whole
SELECT jsonb_array_length(m->'partitions_created') >= 8 AS created_ahead,
       m->'partitions_dropped' @> to_jsonb(ARRAY['traces_p' || to_char(now() - interval '45 days', 'YYYYMMDD')]) AS old_dropped,
       (m->>'rows_moved_from_default')::bigint = :in_default AS all_moved
FROM maint() m;
SELECT count(*) AS in_default FROM execlave.traces_default;
SELECT trace_id, tableoid::regclass = ('execlave.traces_p' || to_char(started_at, 'YYYYMMDD'))::regclass AS in_its_day
FROM execlave.traces WHERE trace_id LIKE 'tr\_maint\_%' ORDER BY trace_id;
SELECT count(*) AS old_row_gone FROM execlave.traces WHERE trace_id = 'tr_maint_old';
SELECT count(*) AS partitions_from_today FROM execlave.trace_partitions()
WHERE range_start >= date_trunc('day', now()) AND range_start <= date_trunc('day', now()) + interval '7 days';
-- bounds are UTC days
SELECT range_end - range_start AS one_day, extract(hour FROM range_start) AS utc_midnight
FROM execlave.trace_partitions() WHERE partition_name = 'traces_p' || to_char(now(), 'YYYYMMDD');

-- Idempotent: a second run does nothing
SELECT maint() AS second_run;

-- The kill switch and policies work on every partition, including new ones
SELECT execlave_create_policy('maint-tokens', 'token_limit', 'block', '{"max_total_tokens": 10}', ARRAY['maint-agent']) IS NOT NULL AS created;
SELECT expect_error($$INSERT INTO execlave.traces (agent_key, total_tokens, started_at) VALUES ('maint-agent', 99, now() + interval '3 days')$$);
SELECT expect_error($$INSERT INTO execlave.traces (agent_key, total_tokens, started_at) VALUES ('maint-agent', 99, now() - interval '400 days')$$);
SELECT execlave_drop_policy('maint-tokens');
SELECT execlave_pause_agent('maint-agent', 'maintenance test') AS paused;
SELECT expect_error($$INSERT INTO execlave.traces (agent_key, started_at) VALUES ('maint-agent', now() + interval '6 days')$$);
SELECT execlave_resume_agent('maint-agent') AS resumed;

-- Monthly partitions: a month that daily partitions partly cover gets daily
-- partitions for its rows instead; a free month gets one monthly partition
SET execlave.trace_partition_interval = 'month';
SET execlave.trace_partitions_ahead = 2;
INSERT INTO execlave.traces (trace_id, agent_key, started_at) VALUES ('tr_maint_month', 'maint-agent', now() + interval '70 days');
SELECT m->'partitions_created' @> to_jsonb(ARRAY['traces_p' || to_char(now() + interval '70 days', 'YYYYMM')]) AS monthly_created
FROM maint() m;
SELECT tableoid::regclass::text ~ '^execlave\.traces_p\d{6}$' AS in_a_month_partition FROM execlave.traces WHERE trace_id = 'tr_maint_month';
RESET execlave.trace_partition_interval;
RESET execlave.trace_partitions_ahead;

-- Retention 0 keeps everything; a shorter one drops whole partitions only
SET execlave.trace_retention_days = 0;
SELECT maint()->'partitions_dropped' AS keep_forever;
SET execlave.trace_retention_days = 2;
SELECT maint()->'partitions_dropped' @> to_jsonb(ARRAY['traces_p' || to_char(now() - interval '3 days', 'YYYYMMDD')]) AS dropped_3_days_ago;
SELECT trace_id AS kept FROM execlave.traces WHERE trace_id IN ('tr_maint_0', 'tr_maint_1', 'tr_maint_2', 'tr_maint_3') ORDER BY 1;
RESET execlave.trace_retention_days;

-------------------------------------------------------------------------------
-- Purges past retention: deliveries, events, violations, grants
-------------------------------------------------------------------------------
SET client_min_messages = error;   -- (this database is not execlave.database: creating an endpoint warns)
SELECT id AS hook FROM execlave_create_webhook('https://hooks.example.com/maint', ARRAY['agent.paused']) \gset
SET client_min_messages = warning;
INSERT INTO execlave.events (event_type, data, created_at) VALUES
    ('agent.paused', '{"n": "old-delivered"}', now() - interval '40 days'),
    ('agent.paused', '{"n": "old-pending"}', now() - interval '40 days'),
    ('agent.paused', '{"n": "old-dead"}', now() - interval '40 days'),
    ('agent.resumed', '{"n": "old-unsubscribed"}', now() - interval '40 days'),
    ('agent.resumed', '{"n": "recent"}', now() - interval '1 day');
UPDATE execlave.deliveries d SET status = 'succeeded', delivered_at = now() - interval '10 days'
FROM execlave.events e WHERE e.id = d.event_id AND e.data->>'n' = 'old-delivered';
UPDATE execlave.deliveries d SET status = 'dead', last_attempt_at = now() - interval '35 days'
FROM execlave.events e WHERE e.id = d.event_id AND e.data->>'n' = 'old-dead';
INSERT INTO execlave.violations (policy_id, policy_name, policy_type, mode, agent_id, agent_key, phase, message, recorded_by, created_at)
SELECT gen_random_uuid(), 'gone', 'token_limit', 'log', a.id, a.key, 'ingestion', 'old', 'regress', now() - interval '100 days'
FROM execlave.agents a WHERE a.key = 'maint-agent';
SELECT execlave_register_agent('maint-b') IS NOT NULL AS registered;
SELECT execlave_grant('maint-agent', 'maint-b', ARRAY['read']) AS g_live \gset
SET session_replication_role = replica;   -- an old revoked grant, as if made long ago
INSERT INTO execlave.grants (source_id, target_id, actions, created_at, created_by, revoked_at, revoked_by)
SELECT a.id, b.id, ARRAY['write'], now() - interval '90 days', 'regress', now() - interval '60 days', 'regress'
FROM execlave.agents a, execlave.agents b WHERE a.key = 'maint-agent' AND b.key = 'maint-b';
RESET session_replication_role;
SELECT count(*) AS grants_before FROM execlave.grants g JOIN execlave.agents a ON a.id = g.source_id WHERE a.key = 'maint-agent';
SELECT count(*) AS history_before FROM execlave.grant_history \gset
SELECT maint()->'purged' AS purged;
SELECT e.data->>'n' AS events_kept FROM execlave.events e WHERE e.data->>'n' LIKE 'old-%' OR e.data->>'n' = 'recent' ORDER BY 1;
SELECT count(*) AS old_violations FROM execlave.violations WHERE message = 'old';
SELECT g.id = :'g_live' AS live_grant_kept FROM execlave.grants g JOIN execlave.agents a ON a.id = g.source_id WHERE a.key = 'maint-agent';
SELECT count(*) = :history_before AS grant_history_kept FROM execlave.grant_history;
SELECT maint()->'purged' AS purged_again;
SELECT execlave_delete_webhook(:'hook');

-- Append-only stays append-only outside maintenance, and only a superuser can set its flag
SELECT expect_error($$DELETE FROM execlave.events$$);
CREATE ROLE regress_maint_admin LOGIN IN ROLE execlave_admin;
SET ROLE regress_maint_admin;
SELECT expect_error($$SET execlave.maintenance_in_progress = on$$);
SELECT (execlave_maintenance() ? 'partitions_created') AS admin_runs_maintenance;
SELECT count(*) >= 0 AS admin_reads_overview FROM execlave.agent_overview;
RESET ROLE;
CREATE ROLE regress_maint_app LOGIN IN ROLE execlave_app;
SET ROLE regress_maint_app;
SELECT expect_error($$SELECT execlave_maintenance()$$);
SELECT expect_error($$SELECT execlave_schedule_maintenance()$$);
SELECT count(*) >= 0 AS app_reads_policy_activity FROM execlave.policy_activity;
RESET ROLE;
DROP ROLE regress_maint_admin, regress_maint_app;

-------------------------------------------------------------------------------
-- pg_cron is not installed in this database
-------------------------------------------------------------------------------
SELECT expect_error($$SELECT execlave_schedule_maintenance()$$);
SELECT execlave_unschedule_maintenance() AS nothing_to_unschedule;
SELECT execlave.maintenance_job_name() = 'execlave maintenance: ' || current_database() AS job_name;

-------------------------------------------------------------------------------
-- DBA views
-------------------------------------------------------------------------------
SELECT execlave_register_agent('view-agent') IS NOT NULL AS registered;
INSERT INTO execlave.traces (agent_key, cost_usd, started_at) VALUES
    ('view-agent', 1.5, now()), ('view-agent', 2, now() - interval '2 hours'), ('view-agent', 4, now() - interval '40 days');
SELECT execlave_create_policy('view-tools', 'tool_access', 'log', '{"deny": ["shell"]}', ARRAY['view-agent']) IS NOT NULL AS created;
INSERT INTO execlave.traces (agent_key, tools) VALUES ('view-agent', ARRAY['shell']);
SELECT key, status, last_trace_at IS NOT NULL AS has_last, traces_24h, violations_24h,
       spend_today_usd <= spend_month_usd AS today_within_month, spend_month_usd >= 1.5 AS month_spend
FROM execlave.agent_overview WHERE key = 'view-agent';
SELECT name, type, mode, log_24h, flag_24h, block_24h, log_7d, last_violation_at IS NOT NULL AS has_last
FROM execlave.policy_activity WHERE name = 'view-tools';
SELECT c.relname, obj_description(c.oid) IS NOT NULL AS commented FROM pg_class c
WHERE c.oid IN ('execlave.agent_overview'::regclass, 'execlave.policy_activity'::regclass, 'execlave.webhook_health'::regclass) ORDER BY 1;
SELECT execlave_drop_policy('view-tools');

-------------------------------------------------------------------------------
-- Maintenance that cannot be broken: rows no partition takes, a failing
-- step, the status, the procedure, the guard nobody else can take
-------------------------------------------------------------------------------
SET execlave.trace_max_future = '5min';
SET execlave.trace_max_age_days = 0;
-- rows with times nothing accepts any more (written with the trigger bypassed)
SET session_replication_role = replica;
INSERT INTO execlave.traces (trace_id, agent_key, agent_id, started_at)
SELECT x.id, 'maint-agent', a.id, x.t FROM execlave.agents a,
    (VALUES ('tr_inf', 'infinity'::timestamptz), ('tr_minf', '-infinity'), ('tr_far', '294276-01-01 00:00:00+00'),
            ('tr_ancient', '1990-01-01 00:00:00+00'), ('tr_2100', '2100-01-01 00:00:00+00')) x(id, t)
WHERE a.key = 'maint-agent';
RESET session_replication_role;
SELECT m->'failed' AS failed, m->'skipped' AS skipped, m->>'status' AS status,
       (m->>'rows_outside_horizon')::int AS outside_horizon, (m->>'default_rows_purged')::int AS purged_from_default,
       jsonb_array_length(m->'partitions_created') AS created
FROM maint() m;
SELECT trace_id FROM execlave.traces_default WHERE trace_id IN ('tr_inf', 'tr_minf', 'tr_far', 'tr_ancient', 'tr_2100') ORDER BY 1;
-- a failing step is reported (WARNING, status partial) and the other steps
-- go on: a table is in the way of the first day no partition covers yet
SELECT max(range_end) AS free_day, (max(range_end)::date - now()::date) AS ahead,
       'traces_p' || to_char(max(range_end), 'YYYYMMDD') AS blocker
FROM execlave.trace_partitions() WHERE NOT is_default \gset
CREATE TABLE execlave.:blocker (x int);
SET execlave.trace_partitions_ahead = :ahead;
SET client_min_messages = error;
SELECT m->>'status' AS status, m->'failed'->0->>'label' = to_char(:'free_day'::timestamptz, 'YYYYMMDD') AS failed_step,
       m->'failed'->0->>'sqlstate' AS sqlstate, m->'purged' ? 'violations' AS purges_done
FROM execlave_maintenance() m;
SET client_min_messages = warning;
RESET execlave.trace_partitions_ahead;
DROP TABLE execlave.:blocker;
SELECT last_status, last_mode, jsonb_array_length(last_failed) AS failed_steps, running
FROM execlave.maintenance_status;
-- a failing step on its own: add_trace_partition refuses a bad range
SELECT expect_error($$SELECT execlave.add_trace_partition('infinity', 'infinity', 'x')$$);
-- the procedure pg_cron runs: a transaction per step, the same summary
CALL execlave.run_maintenance();
SELECT last_status, last_mode, last_run_by = current_user AS by_me, running, last_ok_at IS NOT NULL AS had_ok
FROM execlave.maintenance_status;
SELECT status, count(*) FROM execlave.maintenance_runs GROUP BY status ORDER BY 1;
-- in a transaction block the procedure cannot commit: a clear error
BEGIN;
SELECT left(expect_error($$CALL execlave.run_maintenance()$$), 6) AS in_a_block;
ROLLBACK;
-- the guard and the runs are the owner's: other roles read the status only
CREATE ROLE regress_maint_app2 LOGIN IN ROLE execlave_app;
SET ROLE regress_maint_app2;
SELECT last_status IS NOT NULL AS app_reads_status FROM execlave.maintenance_status;
SELECT expect_error($$LOCK TABLE execlave.maintenance_state IN EXCLUSIVE MODE$$);
SELECT expect_error($$SELECT * FROM execlave.maintenance_state FOR UPDATE$$);
SELECT expect_error($$CALL execlave.run_maintenance()$$);
SELECT expect_error($$SELECT execlave.maintenance_step(1, '{"step": "purge"}')$$);
RESET ROLE;
DROP ROLE regress_maint_app2;
RESET execlave.trace_max_future;
RESET execlave.trace_max_age_days;
DROP FUNCTION public.maint(), public.parts();
