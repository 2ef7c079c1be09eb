
-------------------------------------------------------------------------------
-- Maintenance that cannot be broken or blocked
--
-- A run is a list of steps (one per partition to create, one per partition
-- to drop, one for the purges), each done on its own with lock_timeout =
-- execlave.maintenance_lock_timeout: a step that cannot get its locks in
-- time is skipped and reported (the next run retries it), a step that fails
-- is reported and the others go on.  CALL execlave.run_maintenance() (what
-- pg_cron runs) commits after every step, so no lock is held from one step
-- to the next: the kill switch never waits behind a reader for long.
-- execlave_maintenance() does the same steps in one transaction.  Only
-- partitions within the horizon are created: from the oldest accepted trace
-- time (execlave.trace_max_age_days) to trace_partitions_ahead periods ahead.
-- One run at a time per database, guarded by a row only the owner can lock;
-- every run is recorded in execlave.maintenance_runs.
-------------------------------------------------------------------------------
CREATE TABLE execlave.maintenance_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    finished_at timestamptz,
    status      text NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'ok', 'partial', 'failed', 'skipped', 'abandoned')),
    mode        text NOT NULL CHECK (mode IN ('procedure', 'function')),
    run_by      text NOT NULL,
    pid         integer NOT NULL DEFAULT pg_catalog.pg_backend_pid(),
    summary     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX maintenance_runs_started_idx ON execlave.maintenance_runs (started_at);
COMMENT ON TABLE execlave.maintenance_runs IS 'Every maintenance run: when, how (procedure: a transaction per step; function: one transaction), by whom, its outcome (ok, partial: a step was skipped or failed, failed, skipped: another run was in progress, abandoned: its backend died) and summary';
SELECT pg_catalog.pg_extension_config_dump('execlave.maintenance_runs', '');
SELECT pg_catalog.pg_extension_config_dump('execlave.maintenance_runs_id_seq', '');

-- The guard: one row; the run in progress (NULL when none).  Only the
-- extension's owner can lock or write it (no role has any privilege on it).
CREATE TABLE execlave.maintenance_state (
    only_row     boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    run_id       bigint,
    pid          integer,
    backend_start timestamptz
);
INSERT INTO execlave.maintenance_state DEFAULT VALUES;
COMMENT ON TABLE execlave.maintenance_state IS 'Internal: the maintenance run in progress in this database (its backend must be alive for it to count); locked and written by the maintenance functions only';

CREATE VIEW execlave.maintenance_status AS
SELECT r.id AS last_run_id, r.started_at AS last_started_at, r.finished_at AS last_finished_at,
       r.status AS last_status, r.mode AS last_mode, r.run_by AS last_run_by,
       (SELECT pg_catalog.max(o.finished_at) FROM execlave.maintenance_runs o WHERE o.status = 'ok') AS last_ok_at,
       (SELECT pg_catalog.max(o.started_at) FROM execlave.maintenance_runs o
        WHERE o.status OPERATOR(pg_catalog.=) ANY (ARRAY['partial', 'failed', 'abandoned'])) AS last_trouble_at,
       coalesce(r.summary -> 'skipped', '[]') AS last_skipped,
       coalesce(r.summary -> 'failed', '[]') AS last_failed,
       EXISTS (SELECT 1 FROM execlave.maintenance_state s JOIN pg_catalog.pg_stat_activity a
               ON a.pid = s.pid AND a.backend_start = s.backend_start) AS running
FROM (SELECT * FROM execlave.maintenance_runs ORDER BY id DESC LIMIT 1) r
RIGHT JOIN (SELECT 1) one ON true;
COMMENT ON VIEW execlave.maintenance_status IS 'The last maintenance run (status, times, skipped and failed steps), the last good run, the last run in trouble, and whether one is running now';

-- Take the guard for a run; NULL when another run is in progress.
CREATE FUNCTION execlave.maintenance_begin(mode text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st execlave.maintenance_state;
    run bigint;
BEGIN
    BEGIN
        SELECT * INTO STRICT st FROM execlave.maintenance_state FOR UPDATE NOWAIT;
    EXCEPTION WHEN lock_not_available THEN
        st := NULL;             -- a run in one transaction holds it
    END;
    IF st IS NULL OR EXISTS (SELECT 1 FROM pg_stat_activity a
                             WHERE a.pid = st.pid AND a.backend_start = st.backend_start
                               AND a.pid <> pg_backend_pid()) THEN
        INSERT INTO execlave.maintenance_runs (mode, run_by, status, finished_at, summary)
        VALUES (mode, execlave.actor(), 'skipped', clock_timestamp(),
                jsonb_build_object('skipped', 'another execlave_maintenance() is running in this database'));
        RETURN NULL;
    END IF;
    IF st.run_id IS NOT NULL THEN
        -- its backend is gone: that run was abandoned
        UPDATE execlave.maintenance_runs SET status = 'abandoned', finished_at = clock_timestamp()
        WHERE id = st.run_id AND status = 'running';
    END IF;
    INSERT INTO execlave.maintenance_runs (mode, run_by) VALUES (mode, execlave.actor()) RETURNING id INTO run;
    UPDATE execlave.maintenance_state
    SET run_id = run, pid = pg_backend_pid(),
        backend_start = (SELECT a.backend_start FROM pg_stat_activity a WHERE a.pid = pg_backend_pid());
    RETURN run;
END
$$;
COMMENT ON FUNCTION execlave.maintenance_begin(text) IS 'Internal (maintenance): take the one-run-at-a-time guard and record the run; NULL (and a skipped run) when another run is in progress';

-- The steps of one phase of a run, in order.  Phase 'create': the
-- partitions to create (for the rows waiting in the default partition,
-- within the horizon, then the current period and the ones ahead).  Phase
-- 'retire' (planned once those exist): the partitions past retention, the
-- default partition's leftovers, the purges.
CREATE FUNCTION execlave.maintenance_plan(phase text) RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cfg jsonb := execlave.maintenance_settings();
    monthly boolean := cfg->>'trace_partition_interval' = 'month';
    unit text := CASE WHEN cfg->>'trace_partition_interval' = 'month' THEN 'month' ELSE 'day' END;
    step interval := CASE WHEN cfg->>'trace_partition_interval' = 'month' THEN interval '1 month' ELSE interval '1 day' END;
    fmt text := CASE WHEN cfg->>'trace_partition_interval' = 'month' THEN 'YYYYMM' ELSE 'YYYYMMDD' END;
    today timestamp := date_trunc(unit, now() AT TIME ZONE 'UTC');
    horizon_lo timestamptz := now() - make_interval(days => (cfg->>'trace_max_age_days_effective')::int);
    -- up to the periods kept ahead, or the latest accepted trace time if later
    horizon_hi timestamptz := greatest((today + ((cfg->>'trace_partitions_ahead')::int + 1) * step) AT TIME ZONE 'UTC',
                                       now() + make_interval(secs => (cfg->>'trace_max_future_s')::int) + step);
    d timestamp;
    p record;
BEGIN
    IF phase = 'retire' THEN
        -- retention: whole partitions that ended before the cutoff
        IF (cfg->>'trace_retention_days')::int > 0 THEN
            FOR p IN SELECT t.partition_name FROM execlave.trace_partitions() t
                     WHERE NOT t.is_default
                       AND t.range_end <= now() - make_interval(days => (cfg->>'trace_retention_days')::int)
                     ORDER BY t.range_start LOOP
                RETURN NEXT jsonb_build_object('step', 'drop', 'partition', p.partition_name);
            END LOOP;
        END IF;
        RETURN NEXT jsonb_build_object('step', 'default_partition');
        RETURN NEXT jsonb_build_object('step', 'purge');
        RETURN;
    ELSIF phase IS DISTINCT FROM 'create' THEN
        RAISE EXCEPTION 'unknown maintenance phase "%"', phase USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- rows in the default partition, into partitions of their own period (of
    -- a day where a partition of the other interval covers part of it)
    FOR d IN SELECT DISTINCT date_trunc(unit, t.started_at AT TIME ZONE 'UTC')
             FROM execlave.traces_default t
             WHERE t.started_at >= horizon_lo AND t.started_at < horizon_hi ORDER BY 1 LOOP
        IF monthly AND EXISTS (SELECT 1 FROM execlave.trace_partitions() x
                               WHERE NOT x.is_default AND x.range_start < (d + step) AT TIME ZONE 'UTC'
                                 AND x.range_end > d AT TIME ZONE 'UTC') THEN
            FOR p IN SELECT DISTINCT date_trunc('day', t.started_at AT TIME ZONE 'UTC') AS day
                     FROM execlave.traces_default t
                     WHERE t.started_at >= d AT TIME ZONE 'UTC' AND t.started_at < (d + step) AT TIME ZONE 'UTC' LOOP
                RETURN NEXT jsonb_build_object('step', 'partition', 'from', p.day AT TIME ZONE 'UTC',
                    'to', (p.day + interval '1 day') AT TIME ZONE 'UTC', 'label', to_char(p.day, 'YYYYMMDD'));
            END LOOP;
        ELSE
            RETURN NEXT jsonb_build_object('step', 'partition', 'from', d AT TIME ZONE 'UTC',
                'to', (d + step) AT TIME ZONE 'UTC', 'label', to_char(d, fmt));
        END IF;
    END LOOP;
    -- the current period and the next ones, ahead of time
    FOR i IN 0 .. (cfg->>'trace_partitions_ahead')::int LOOP
        d := today + i * step;
        RETURN NEXT jsonb_build_object('step', 'partition', 'from', d AT TIME ZONE 'UTC',
            'to', (d + step) AT TIME ZONE 'UTC', 'label', to_char(d, fmt));
    END LOOP;
END
$$;
COMMENT ON FUNCTION execlave.maintenance_plan(text) IS 'Internal (maintenance): the steps of one phase of a run (create: partitions; retire: drops past retention, the default partition''s leftovers, purges), as JSON objects';

-- Create the partition for [from_ts, to_ts) unless one exists, moving the
-- rows of that range out of the default partition first.  Returns the rows
-- moved, or NULL when it created nothing.  The locks are taken in an order
-- that never holds the lock on execlave.agents (taken by ATTACH for the
-- foreign key) while waiting for another: the default partition, the
-- parent, then agents just before ATTACH; the caller sets lock_timeout.
CREATE OR REPLACE FUNCTION execlave.add_trace_partition(from_ts timestamptz, to_ts timestamptz, label text)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    part text := 'traces_p' || label;
    moved bigint;
BEGIN
    IF from_ts IS NULL OR to_ts IS NULL OR NOT isfinite(from_ts) OR NOT isfinite(to_ts) OR label !~ '^\d{6}(\d{2})?$' THEN
        RAISE EXCEPTION 'invalid partition range [%, %) "%"', from_ts, to_ts, label
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM execlave.trace_partitions() p
               WHERE NOT p.is_default AND p.range_start < to_ts AND p.range_end > from_ts) THEN
        RETURN NULL;            -- (partly) covered already
    END IF;
    LOCK TABLE execlave.traces_default IN ACCESS EXCLUSIVE MODE;
    LOCK TABLE execlave.traces IN SHARE UPDATE EXCLUSIVE MODE;
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
    LOCK TABLE execlave.agents IN SHARE ROW EXCLUSIVE MODE;
    EXECUTE format('ALTER TABLE execlave.traces ATTACH PARTITION execlave.%I FOR VALUES FROM (%L) TO (%L)',
                   part, from_ts, to_ts);
    EXECUTE format('ALTER TABLE execlave.%I DROP CONSTRAINT %I', part, part || '_bound');
    RETURN moved;
END
$$;

-- One step of a run (see maintenance_plan), recorded in the run's summary;
-- never raises: a step that cannot get its locks within
-- execlave.maintenance_lock_timeout is skipped, one that fails is reported
-- with a WARNING, and the run goes on.
CREATE FUNCTION execlave.maintenance_step(run bigint, step jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cfg jsonb := execlave.maintenance_settings();
    result jsonb := '{}';
    what text := step->>'step';
    n bigint;
    cutoff timestamptz;
    purged jsonb := '{}';
    msg text;
    state text;
BEGIN
    PERFORM set_config('execlave.maintenance_in_progress', 'on', true);
    PERFORM set_config('lock_timeout', cfg->>'maintenance_lock_timeout_ms', true);
    BEGIN
        IF what = 'partition' THEN
            n := execlave.add_trace_partition((step->>'from')::timestamptz, (step->>'to')::timestamptz, step->>'label');
            IF n IS NOT NULL THEN
                result := jsonb_build_object('created', 'traces_p' || (step->>'label'), 'moved', n);
            END IF;
        ELSIF what = 'drop' THEN
            IF to_regclass('execlave.' || quote_ident(step->>'partition')) IS NOT NULL THEN
                -- the parent first (the drop needs it exclusively), agents last (the foreign key)
                LOCK TABLE execlave.traces IN ACCESS EXCLUSIVE MODE;
                LOCK TABLE execlave.agents IN SHARE ROW EXCLUSIVE MODE;
                EXECUTE format('DROP TABLE execlave.%I', step->>'partition');
                result := jsonb_build_object('dropped', step->>'partition');
            END IF;
        ELSIF what = 'default_partition' THEN
            -- rows that no partition will take: outside the horizon (written
            -- before 0.1.2, or with the trigger bypassed); those past the
            -- retention go, the rest are counted
            IF (cfg->>'trace_retention_days')::int > 0 THEN
                cutoff := now() - make_interval(days => (cfg->>'trace_retention_days')::int);
                DELETE FROM execlave.traces_default t WHERE t.started_at < cutoff;
                GET DIAGNOSTICS n = ROW_COUNT;
                IF n > 0 THEN
                    result := jsonb_build_object('default_rows_purged', n);
                END IF;
            END IF;
            SELECT count(*) INTO n FROM execlave.traces_default t
            WHERE NOT (t.started_at >= now() - make_interval(days => (cfg->>'trace_max_age_days_effective')::int)
                       AND t.started_at < now() + make_interval(secs => (cfg->>'trace_max_future_s')::int));
            IF n > 0 THEN
                result := result || jsonb_build_object('rows_outside_horizon', n);
            END IF;
        ELSIF what = 'purge' THEN
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
            -- approval requests: the clock has ended the open ones; the
            -- closed ones go with the violations' retention
            UPDATE execlave.approvals a SET status = 'expired'
            WHERE a.status IN ('pending', 'approved') AND a.expires_at <= clock_timestamp();
            GET DIAGNOSTICS n = ROW_COUNT;
            purged := purged || jsonb_build_object('approvals_expired', n);
            IF (cfg->>'violation_retention_days')::int > 0 THEN
                DELETE FROM execlave.approvals a
                WHERE a.status NOT IN ('pending', 'approved')
                  AND a.requested_at < now() - make_interval(days => (cfg->>'violation_retention_days')::int);
                GET DIAGNOSTICS n = ROW_COUNT;
                purged := purged || jsonb_build_object('approvals', n);
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
                EXECUTE 'DELETE FROM cron.job_run_details r USING cron.job j WHERE j.jobid OPERATOR(pg_catalog.=) r.jobid'
                        ' AND j.jobname OPERATOR(pg_catalog.=) $1 AND r.end_time OPERATOR(pg_catalog.<) $2'
                    USING execlave.maintenance_job_name(),
                          now() - make_interval(days => (cfg->>'cron_history_retention_days')::int);
                GET DIAGNOSTICS n = ROW_COUNT;
                purged := purged || jsonb_build_object('cron_run_history', n);
            END IF;
            -- the runs' own record: a week, and always the last 100
            DELETE FROM execlave.maintenance_runs r
            WHERE r.started_at < now() - interval '7 days' AND r.id <> run
              AND r.id < (SELECT min(x.id) FROM (SELECT y.id FROM execlave.maintenance_runs y ORDER BY y.id DESC LIMIT 100) x);
            result := jsonb_build_object('purged', purged);
        ELSE
            RAISE EXCEPTION 'unknown maintenance step "%"', what USING ERRCODE = 'invalid_parameter_value';
        END IF;
    EXCEPTION
        WHEN lock_not_available OR deadlock_detected THEN
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
            result := jsonb_build_object('skipped', step || jsonb_build_object('reason', msg));
        WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
            RAISE WARNING 'execlave maintenance: step % failed: %', step, msg
                USING HINT = 'The other steps went on; see execlave.maintenance_status.';
            result := jsonb_build_object('failed', step || jsonb_build_object('sqlstate', state, 'error', msg));
    END;
    -- fold the step's outcome into the run's summary
    UPDATE execlave.maintenance_runs r SET summary = jsonb_build_object(
        'partitions_created', coalesce(r.summary->'partitions_created', '[]')
            || CASE WHEN result ? 'created' THEN jsonb_build_array(result->'created') ELSE '[]' END,
        'partitions_dropped', coalesce(r.summary->'partitions_dropped', '[]')
            || CASE WHEN result ? 'dropped' THEN jsonb_build_array(result->'dropped') ELSE '[]' END,
        'rows_moved_from_default', coalesce((r.summary->>'rows_moved_from_default')::bigint, 0)
            + coalesce((result->>'moved')::bigint, 0),
        'rows_outside_horizon', coalesce((result->>'rows_outside_horizon')::bigint, (r.summary->>'rows_outside_horizon')::bigint, 0),
        'default_rows_purged', coalesce((r.summary->>'default_rows_purged')::bigint, 0)
            + coalesce((result->>'default_rows_purged')::bigint, 0),
        'purged', coalesce(result->'purged', r.summary->'purged', '{}'),
        'skipped', coalesce(r.summary->'skipped', '[]')
            || CASE WHEN result ? 'skipped' THEN jsonb_build_array(result->'skipped') ELSE '[]' END,
        'failed', coalesce(r.summary->'failed', '[]')
            || CASE WHEN result ? 'failed' THEN jsonb_build_array(result->'failed') ELSE '[]' END)
    WHERE r.id = run;
    RETURN result;
END
$$;
COMMENT ON FUNCTION execlave.maintenance_step(bigint, jsonb) IS 'Internal (maintenance): do one step of a run with lock_timeout = execlave.maintenance_lock_timeout; skipped when its locks are not free in time, reported when it fails; never raises';

-- Close a run: its status, the guard released; returns the summary.
CREATE FUNCTION execlave.maintenance_finish(run bigint, t0 timestamptz) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r execlave.maintenance_runs;
BEGIN
    UPDATE execlave.maintenance_runs x
    SET finished_at = clock_timestamp(),
        status = CASE WHEN jsonb_array_length(x.summary->'failed') > 0 OR jsonb_array_length(x.summary->'skipped') > 0
                      THEN 'partial' ELSE 'ok' END,
        summary = x.summary || jsonb_build_object('settings', execlave.maintenance_settings(),
            'took_ms', round((extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric, 1))
    WHERE x.id = run RETURNING * INTO r;
    UPDATE execlave.maintenance_state SET run_id = NULL, pid = NULL, backend_start = NULL WHERE run_id = run;
    IF r.status = 'partial' THEN
        RAISE WARNING 'execlave maintenance run % was partial: % step(s) skipped (their locks were not free), % failed',
            run, jsonb_array_length(r.summary->'skipped'), jsonb_array_length(r.summary->'failed')
            USING DETAIL = (r.summary->'skipped') || (r.summary->'failed'),
                  HINT = 'Skipped steps are retried by the next run; see execlave.maintenance_status.';
    END IF;
    RETURN r.summary || jsonb_build_object('run_id', run, 'status', r.status);
END
$$;
COMMENT ON FUNCTION execlave.maintenance_finish(bigint, timestamptz) IS 'Internal (maintenance): close a run (ok or partial, with a WARNING when partial) and release the guard; returns the summary';

-- execlave_maintenance(): every step in this one transaction.
CREATE FUNCTION execlave.maintenance() RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    run bigint := execlave.maintenance_begin('function');
    s jsonb;
BEGIN
    IF run IS NULL THEN
        RETURN jsonb_build_object('skipped', 'another execlave_maintenance() is running in this database');
    END IF;
    FOR s IN SELECT * FROM execlave.maintenance_plan('create') LOOP
        PERFORM execlave.maintenance_step(run, s);
    END LOOP;
    FOR s IN SELECT * FROM execlave.maintenance_plan('retire') LOOP
        PERFORM execlave.maintenance_step(run, s);
    END LOOP;
    RETURN execlave.maintenance_finish(run, t0);
END
$$;
COMMENT ON FUNCTION execlave.maintenance() IS 'Implementation of execlave_maintenance(): every maintenance step in one transaction';
CREATE OR REPLACE FUNCTION execlave_maintenance() RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.maintenance();
COMMENT ON FUNCTION execlave_maintenance() IS 'All periodic work in one transaction: create partitions of execlave.traces within the horizon and move rows out of the default partition, drop partitions past execlave.trace_retention_days, purge delivered deliveries, old events, violations, long-ended grants and API keys, and the maintenance job''s pg_cron history. Each step with lock_timeout (skipped when its locks are not free, retried next run); one run at a time; returns a summary. Scheduled runs use CALL execlave.run_maintenance() (a transaction per step)';

-- What pg_cron runs: the same steps, each committed on its own, so that no
-- lock is kept from one step to the next.  A procedure that commits cannot
-- be SECURITY DEFINER nor pin search_path, so this body calls only
-- schema-qualified functions (which are) and resolves nothing else.
CREATE PROCEDURE execlave.run_maintenance()
LANGUAGE plpgsql AS $$
DECLARE
    t0 pg_catalog.timestamptz := pg_catalog.clock_timestamp();
    run pg_catalog.int8;
    s pg_catalog.jsonb;
BEGIN
    run := execlave.maintenance_begin('procedure');
    COMMIT;
    IF run IS NULL THEN
        RAISE NOTICE 'another execlave maintenance run is in progress in this database: skipped';
        RETURN;
    END IF;
    FOR s IN SELECT * FROM execlave.maintenance_plan('create') LOOP
        PERFORM execlave.maintenance_step(run, s);
        COMMIT;
    END LOOP;
    FOR s IN SELECT * FROM execlave.maintenance_plan('retire') LOOP
        PERFORM execlave.maintenance_step(run, s);
        COMMIT;
    END LOOP;
    PERFORM execlave.maintenance_finish(run, t0);
    COMMIT;
END
$$;
COMMENT ON PROCEDURE execlave.run_maintenance() IS 'All periodic work of execlave_maintenance(), each step in its own transaction (what the pg_cron job runs: CALL execlave.run_maintenance()); see execlave.maintenance_status';

CREATE FUNCTION execlave.schedule_maintenance(schedule text DEFAULT '*/5 * * * *') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    job bigint;
BEGIN
    PERFORM execlave.check_not_null(schedule, 'schedule');
    IF to_regnamespace('cron') IS NULL OR NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, CREATE EXTENSION pg_cron, and call execlave_schedule_maintenance() again; or run CALL execlave.run_maintenance() yourself every few minutes.';
    END IF;
    -- pg_cron updates a job of the same name and user instead of adding one
    EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, $4)'
        INTO job USING execlave.maintenance_job_name(), schedule, 'CALL execlave.run_maintenance()', current_database();
    RETURN job;
END
$$;
COMMENT ON FUNCTION execlave.schedule_maintenance(text) IS 'Implementation of execlave_schedule_maintenance(): schedule CALL execlave.run_maintenance() with pg_cron (one named job per database)';
CREATE OR REPLACE FUNCTION execlave_schedule_maintenance(schedule text DEFAULT '*/5 * * * *') RETURNS bigint
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.schedule_maintenance($1);
COMMENT ON FUNCTION execlave_schedule_maintenance(text) IS 'Schedule maintenance (CALL execlave.run_maintenance(): a transaction per step) with pg_cron (one named job per database; calling again changes its schedule); returns the pg_cron job id';

CREATE FUNCTION execlave.unschedule_maintenance() RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    job bigint;
BEGIN
    IF to_regclass('cron.job') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT jobid FROM cron.job WHERE jobname OPERATOR(pg_catalog.=) $1' INTO job USING execlave.maintenance_job_name();
    IF job IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT cron.unschedule($1)' USING job;
    RETURN true;
END
$$;
COMMENT ON FUNCTION execlave.unschedule_maintenance() IS 'Implementation of execlave_unschedule_maintenance()';
CREATE OR REPLACE FUNCTION execlave_unschedule_maintenance() RETURNS boolean
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.unschedule_maintenance();

-- A job scheduled by an earlier version runs SELECT execlave_maintenance()
-- (one transaction, resolved on the job's search_path): run the procedure.
DO $$
DECLARE
    sched text;
BEGIN
    IF pg_catalog.to_regclass('cron.job') IS NOT NULL THEN
        EXECUTE 'SELECT schedule FROM cron.job WHERE jobname OPERATOR(pg_catalog.=) $1'
            INTO sched USING execlave.maintenance_job_name();
        IF sched IS NOT NULL THEN
            PERFORM execlave.schedule_maintenance(sched);
        END IF;
    END IF;
END
$$;

REVOKE ALL ON FUNCTION execlave.maintenance_begin(text), execlave.maintenance_plan(text),
    execlave.maintenance_step(bigint, jsonb), execlave.maintenance_finish(bigint, timestamptz),
    execlave.maintenance(), execlave.schedule_maintenance(text), execlave.unschedule_maintenance() FROM PUBLIC;
REVOKE ALL ON PROCEDURE execlave.run_maintenance() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.maintenance_begin(text), execlave.maintenance_plan(text),
    execlave.maintenance_step(bigint, jsonb), execlave.maintenance_finish(bigint, timestamptz),
    execlave.maintenance(), execlave.schedule_maintenance(text), execlave.unschedule_maintenance()
    TO execlave_admin;
GRANT EXECUTE ON PROCEDURE execlave.run_maintenance() TO execlave_admin;
REVOKE ALL ON execlave.maintenance_runs, execlave.maintenance_state FROM PUBLIC;
GRANT SELECT ON execlave.maintenance_runs, execlave.maintenance_status TO execlave_reader, execlave_app, execlave_admin;
