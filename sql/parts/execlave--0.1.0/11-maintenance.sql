-------------------------------------------------------------------------------
-- Maintenance: partitions of traces, retention, purges; pg_cron; DBA views
-------------------------------------------------------------------------------
CREATE FUNCTION execlave.maintenance_settings() RETURNS jsonb
LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'execlave_maintenance_settings';
COMMENT ON FUNCTION execlave.maintenance_settings() IS 'The settings execlave_maintenance() applies (execlave.trace_partition_interval, *_retention_days, ...)';

-- The partitions of execlave.traces with their bounds.
CREATE FUNCTION execlave.trace_partitions()
RETURNS TABLE (partition_name text, range_start timestamptz, range_end timestamptz, is_default boolean, rows_estimate bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.relname::text,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz,
           pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT',
           greatest(c.reltuples, 0)::bigint
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'execlave.traces'::regclass
    ORDER BY 2 NULLS FIRST
$$;
COMMENT ON FUNCTION execlave.trace_partitions() IS 'The partitions of execlave.traces: name, range (UTC bounds), whether it is the default partition, estimated rows';

-- Create the partition for [from_ts, to_ts) unless one exists, moving
-- the rows of that range out of the default partition first.  Returns the
-- rows moved, or NULL when it created nothing.
CREATE FUNCTION execlave.add_trace_partition(from_ts timestamptz, to_ts timestamptz, label text)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    part text := 'traces_p' || label;
    moved bigint;
BEGIN
    IF EXISTS (SELECT 1 FROM execlave.trace_partitions() p
               WHERE NOT p.is_default AND p.range_start < to_ts AND p.range_end > from_ts) THEN
        RETURN NULL;            -- (partly) covered already
    END IF;
    EXECUTE format('CREATE TABLE execlave.%I (LIKE execlave.traces INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)', part);
    -- a CHECK matching the bound lets ATTACH skip its validation scan
    EXECUTE format('ALTER TABLE execlave.%I ADD CONSTRAINT %I CHECK (started_at >= %L AND started_at < %L)',
                   part, part || '_bound', from_ts, to_ts);
    -- the keys live on the partitions (see execlave.traces)
    EXECUTE format('ALTER TABLE execlave.%I ADD CONSTRAINT %I PRIMARY KEY (trace_id, started_at)', part, part || '_pkey');
    EXECUTE format('CREATE INDEX %I ON execlave.%I (agent_id, started_at)', part || '_agent_time_idx', part);
    EXECUTE format('WITH m AS (DELETE FROM execlave.traces_default WHERE started_at >= %L AND started_at < %L RETURNING *) '
                   'INSERT INTO execlave.%I SELECT * FROM m', from_ts, to_ts, part);
    GET DIAGNOSTICS moved = ROW_COUNT;
    EXECUTE format('ALTER TABLE execlave.traces ATTACH PARTITION execlave.%I FOR VALUES FROM (%L) TO (%L)',
                   part, from_ts, to_ts);
    EXECUTE format('ALTER TABLE execlave.%I DROP CONSTRAINT %I', part, part || '_bound');
    RETURN moved;
END
$$;
COMMENT ON FUNCTION execlave.add_trace_partition(timestamptz, timestamptz, text) IS 'Internal (maintenance): create one partition of execlave.traces, moving its rows out of the default partition';

CREATE FUNCTION execlave_maintenance() RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cfg jsonb := execlave.maintenance_settings();
    monthly boolean := cfg->>'trace_partition_interval' = 'month';
    step interval := CASE WHEN cfg->>'trace_partition_interval' = 'month' THEN interval '1 month' ELSE interval '1 day' END;
    fmt text := CASE WHEN cfg->>'trace_partition_interval' = 'month' THEN 'YYYYMM' ELSE 'YYYYMMDD' END;
    t0 timestamptz := clock_timestamp();
    today timestamp := date_trunc(CASE WHEN cfg->>'trace_partition_interval' = 'month' THEN 'month' ELSE 'day' END,
                                  now() AT TIME ZONE 'UTC');
    created text[] := '{}';
    dropped text[] := '{}';
    moved bigint := 0;
    n bigint;
    p record;
    d timestamp;
    cutoff timestamptz;
    purged jsonb := '{}';
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('execlave_maintenance'), 0) THEN
        RETURN jsonb_build_object('skipped', 'another execlave_maintenance() is running in this database');
    END IF;
    PERFORM set_config('execlave.maintenance_in_progress', 'on', true);

    -- 1. rows in the default partition: into partitions of their own period
    --    (of a day when a partition of the other interval covers part of it)
    FOR d IN SELECT DISTINCT date_trunc(CASE WHEN monthly THEN 'month' ELSE 'day' END, started_at AT TIME ZONE 'UTC')
             FROM execlave.traces_default ORDER BY 1 LOOP
        n := execlave.add_trace_partition(d AT TIME ZONE 'UTC', (d + step) AT TIME ZONE 'UTC', to_char(d, fmt));
        IF n IS NULL AND monthly THEN
            FOR p IN SELECT DISTINCT date_trunc('day', t.started_at AT TIME ZONE 'UTC') AS day
                     FROM execlave.traces_default t
                     WHERE t.started_at >= d AT TIME ZONE 'UTC' AND t.started_at < (d + step) AT TIME ZONE 'UTC' LOOP
                n := execlave.add_trace_partition(p.day AT TIME ZONE 'UTC', (p.day + interval '1 day') AT TIME ZONE 'UTC',
                                                  to_char(p.day, 'YYYYMMDD'));
                IF n IS NOT NULL THEN
                    created := created || ('traces_p' || to_char(p.day, 'YYYYMMDD'));
                    moved := moved + n;
                END IF;
            END LOOP;
        ELSIF n IS NOT NULL THEN
            created := created || ('traces_p' || to_char(d, fmt));
            moved := moved + n;
        END IF;
    END LOOP;

    -- 2. the current period and the next ones, ahead of time
    FOR i IN 0 .. (cfg->>'trace_partitions_ahead')::int LOOP
        d := today + i * step;
        n := execlave.add_trace_partition(d AT TIME ZONE 'UTC', (d + step) AT TIME ZONE 'UTC', to_char(d, fmt));
        IF n IS NOT NULL THEN
            created := created || ('traces_p' || to_char(d, fmt));
            moved := moved + n;
        END IF;
    END LOOP;

    -- 3. retention: whole partitions that ended before the cutoff
    IF (cfg->>'trace_retention_days')::int > 0 THEN
        cutoff := now() - make_interval(days => (cfg->>'trace_retention_days')::int);
        FOR p IN SELECT * FROM execlave.trace_partitions() t WHERE NOT t.is_default AND t.range_end <= cutoff LOOP
            EXECUTE format('DROP TABLE execlave.%I', p.partition_name);
            dropped := dropped || p.partition_name;
        END LOOP;
    END IF;

    -- 4. what else accumulates
    IF (cfg->>'delivery_retention_days')::int > 0 THEN
        DELETE FROM execlave.deliveries
        WHERE status = 'succeeded' AND delivered_at < now() - make_interval(days => (cfg->>'delivery_retention_days')::int);
        GET DIAGNOSTICS n = ROW_COUNT;
        purged := purged || jsonb_build_object('deliveries_succeeded', n);
    END IF;
    IF (cfg->>'event_retention_days')::int > 0 THEN
        cutoff := now() - make_interval(days => (cfg->>'event_retention_days')::int);
        DELETE FROM execlave.deliveries WHERE status = 'dead' AND coalesce(last_attempt_at, created_at) < cutoff;
        GET DIAGNOSTICS n = ROW_COUNT;
        purged := purged || jsonb_build_object('deliveries_dead', n);
        DELETE FROM execlave.events e
        WHERE e.created_at < cutoff AND NOT EXISTS (SELECT 1 FROM execlave.deliveries x WHERE x.event_id = e.id);
        GET DIAGNOSTICS n = ROW_COUNT;
        purged := purged || jsonb_build_object('events', n);
    END IF;
    IF (cfg->>'violation_retention_days')::int > 0 THEN
        DELETE FROM execlave.violations
        WHERE created_at < now() - make_interval(days => (cfg->>'violation_retention_days')::int);
        GET DIAGNOSTICS n = ROW_COUNT;
        purged := purged || jsonb_build_object('violations', n);
    END IF;
    IF (cfg->>'grant_retention_days')::int > 0 THEN
        cutoff := now() - make_interval(days => (cfg->>'grant_retention_days')::int);
        -- a grant another one replaces goes once its successor has gone
        DELETE FROM execlave.grants g
        WHERE (g.revoked_at < cutoff OR g.expires_at < cutoff)
          AND NOT EXISTS (SELECT 1 FROM execlave.grants r WHERE r.replaces = g.id);
        GET DIAGNOSTICS n = ROW_COUNT;
        purged := purged || jsonb_build_object('grants', n);
        -- API keys revoked or expired as long ago (they refuse requests from the moment they end)
        DELETE FROM execlave.api_keys k WHERE k.revoked_at < cutoff OR k.expires_at < cutoff;
        GET DIAGNOSTICS n = ROW_COUNT;
        purged := purged || jsonb_build_object('api_keys', n);
    END IF;
    IF (cfg->>'cron_history_retention_days')::int > 0 AND to_regclass('cron.job_run_details') IS NOT NULL THEN
        EXECUTE 'DELETE FROM cron.job_run_details r USING cron.job j WHERE j.jobid = r.jobid AND j.jobname = $1 AND r.end_time < $2'
            USING execlave.maintenance_job_name(),
                  now() - make_interval(days => (cfg->>'cron_history_retention_days')::int);
        GET DIAGNOSTICS n = ROW_COUNT;
        purged := purged || jsonb_build_object('cron_run_history', n);
    END IF;

    RETURN jsonb_build_object(
        'partitions_created', to_jsonb(created),
        'partitions_dropped', to_jsonb(dropped),
        'rows_moved_from_default', moved,
        'purged', purged,
        'settings', cfg,
        'took_ms', round((extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric, 1));
END
$$;
COMMENT ON FUNCTION execlave_maintenance() IS 'All periodic work: create partitions of execlave.traces ahead and move rows out of the default partition, drop partitions past execlave.trace_retention_days, purge delivered deliveries, old events, violations, long-ended grants and API keys, and the maintenance job''s pg_cron history. Idempotent; concurrent runs skip. Returns a summary';

CREATE FUNCTION execlave.maintenance_job_name() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'execlave maintenance: ' || current_database()
$$;
COMMENT ON FUNCTION execlave.maintenance_job_name() IS 'Name of this database''s pg_cron maintenance job';

CREATE FUNCTION execlave_schedule_maintenance(schedule text DEFAULT '*/5 * * * *') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    job bigint;
BEGIN
    PERFORM execlave.check_not_null(schedule, 'schedule');
    IF to_regnamespace('cron') IS NULL OR NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, CREATE EXTENSION pg_cron, and call execlave_schedule_maintenance() again; or run SELECT execlave_maintenance() yourself every few minutes.';
    END IF;
    -- pg_cron updates a job of the same name and user instead of adding one
    EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, $4)'
        INTO job USING execlave.maintenance_job_name(), schedule, 'SELECT execlave_maintenance()', current_database();
    RETURN job;
END
$$;
COMMENT ON FUNCTION execlave_schedule_maintenance(text) IS 'Schedule execlave_maintenance() with pg_cron (one named job per database; calling again changes its schedule); returns the pg_cron job id';

CREATE FUNCTION execlave_unschedule_maintenance() RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    job bigint;
BEGIN
    IF to_regclass('cron.job') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT jobid FROM cron.job WHERE jobname = $1' INTO job USING execlave.maintenance_job_name();
    IF job IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT cron.unschedule($1)' USING job;
    RETURN true;
END
$$;
COMMENT ON FUNCTION execlave_unschedule_maintenance() IS 'Remove this database''s pg_cron maintenance job; false if there was none';

CREATE VIEW execlave.agent_overview AS
SELECT a.id, a.key, a.name, a.status, a.pause_reason, a.paused_at,
       lt.last_trace_at,
       coalesce(w.traces_24h, 0) AS traces_24h,
       coalesce(v.violations_24h, 0) AS violations_24h,
       coalesce(w.spend_today_usd, 0) AS spend_today_usd,
       coalesce(w.spend_month_usd, 0) AS spend_month_usd
FROM execlave.agents a
LEFT JOIN LATERAL (SELECT max(t.started_at) AS last_trace_at FROM execlave.traces t WHERE t.agent_id = a.id) lt ON true
LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE t.started_at >= now() - interval '24 hours') AS traces_24h,
           sum(t.cost_usd) FILTER (WHERE t.started_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS spend_today_usd,
           sum(t.cost_usd) FILTER (WHERE t.started_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS spend_month_usd
    FROM execlave.traces t
    WHERE t.agent_id = a.id
      AND t.started_at >= least(now() - interval '24 hours', date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
) w ON true
LEFT JOIN LATERAL (SELECT count(*) AS violations_24h FROM execlave.violations x
                   WHERE x.agent_id = a.id AND x.created_at >= now() - interval '24 hours') v ON true;
COMMENT ON VIEW execlave.agent_overview IS 'Per agent: status (and why paused), last trace, traces and violations in the last 24 hours, spend today and this month (UTC, by started_at)';

CREATE VIEW execlave.policy_activity AS
SELECT p.id, p.name, p.type, p.mode, p.active,
       count(x.id) FILTER (WHERE x.mode = 'log' AND x.created_at >= now() - interval '24 hours') AS log_24h,
       count(x.id) FILTER (WHERE x.mode = 'flag' AND x.created_at >= now() - interval '24 hours') AS flag_24h,
       count(x.id) FILTER (WHERE x.mode = 'block' AND x.created_at >= now() - interval '24 hours') AS block_24h,
       count(x.id) FILTER (WHERE x.mode = 'log') AS log_7d,
       count(x.id) FILTER (WHERE x.mode = 'flag') AS flag_7d,
       count(x.id) FILTER (WHERE x.mode = 'block') AS block_7d,
       max(x.created_at) AS last_violation_at
FROM execlave.policies p
LEFT JOIN execlave.violations x ON x.policy_id = p.id AND x.created_at >= now() - interval '7 days'
GROUP BY p.id, p.name, p.type, p.mode, p.active;
COMMENT ON VIEW execlave.policy_activity IS 'Per policy: violations by mode (log, flag, block) over the last 24 hours and 7 days, and the latest';

-- With pg_cron in this database, maintenance is scheduled now.  (CREATE
-- EXTENSION runs this script with client_min_messages raised to warning; it
-- is lowered here, for this script only, so that the NOTICE is seen.)
DO $$
BEGIN
    PERFORM pg_catalog.set_config('client_min_messages', 'notice', true);
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        PERFORM execlave_schedule_maintenance();
        RAISE NOTICE 'execlave: maintenance scheduled with pg_cron every 5 minutes (job "%")', execlave.maintenance_job_name();
    ELSE
        RAISE NOTICE 'execlave: pg_cron is not installed in this database, so maintenance is not scheduled'
            USING HINT = 'Run SELECT execlave_maintenance() every few minutes (it creates the partitions of execlave.traces and applies retention), or CREATE EXTENSION pg_cron here and SELECT execlave_schedule_maintenance().';
    END IF;
END
$$;

