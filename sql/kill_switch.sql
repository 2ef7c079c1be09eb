-- The kill switch: pause, resume, assert_active, the agent-paused error.
SELECT execlave_register_agent('ks-agent', 'Kill-switch test agent') AS id \gset

SELECT execlave_assert_active('ks-agent') IS NOT NULL AS active_passes;

-- Pause records who, when and why
SELECT execlave_pause_agent('ks-agent', 'Detected harmful outputs in production') AS paused;
SELECT status, pause_reason, paused_by = current_user AS by_me, paused_at IS NOT NULL AS has_time,
       paused_at = status_changed_at AS same_time
FROM execlave.agents WHERE key = 'ks-agent';
SELECT execlave_agent_status('ks-agent');

-- The agent-paused error: EX001, names the agent, detail has time and reason, hint names resume
\set VERBOSITY default
DO $$
BEGIN
    PERFORM execlave_assert_active('ks-agent');
EXCEPTION WHEN SQLSTATE 'EX001' THEN
    DECLARE msg text; det text; hint text;
    BEGIN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
        RAISE NOTICE 'message: %', msg;
        RAISE NOTICE 'detail: %', regexp_replace(det, '\d{4}-\d\d-\d\d [0-9:.]+[-+]\d\d', '<time>');
        RAISE NOTICE 'hint: %', hint;
    END;
END
$$;
SELECT expect_error($$SELECT execlave_assert_active('ks-agent')$$);
SELECT expect_error(format('SELECT execlave_assert_active(%L)', :'id'));

-- A repeated pause changes nothing and returns false: the first reason and time stand
SELECT paused_at AS first_paused_at FROM execlave.agents WHERE key = 'ks-agent' \gset
SELECT execlave_pause_agent('ks-agent', 'another reason') AS paused_again;
SELECT pause_reason, paused_at = :'first_paused_at' AS time_kept FROM execlave.agents WHERE key = 'ks-agent';

-- Resume clears the pause; resuming an active agent is a no-op
SELECT execlave_resume_agent(:'id') AS resumed;
SELECT status, pause_reason, paused_at, paused_by FROM execlave.agents WHERE key = 'ks-agent';
SELECT execlave_resume_agent('ks-agent') AS resumed_again;
SELECT execlave_assert_active('ks-agent') IS NOT NULL AS active_again;

-- History: register, pause, resume (no rows for the no-ops)
SELECT old_status, new_status, reason FROM execlave.agent_status_history
WHERE agent_id = :'id' ORDER BY id;

-- A rolled-back pause leaves nothing behind; inside its transaction it is already in force
SELECT count(*) AS hist_before FROM execlave.agent_status_history \gset
SELECT count(*) AS events_before FROM execlave.events \gset
BEGIN;
SELECT execlave_pause_agent('ks-agent', 'trying');
SELECT execlave_agent_status('ks-agent') AS inside_transaction;
SELECT expect_error($$SELECT execlave_assert_active('ks-agent')$$);
ROLLBACK;
SELECT execlave_agent_status('ks-agent') AS after_rollback;
SELECT count(*) = :hist_before AS history_unchanged FROM execlave.agent_status_history;
SELECT count(*) = :events_before AS events_unchanged FROM execlave.events;

-- Same with a savepoint rolled back
BEGIN;
SAVEPOINT s;
SELECT execlave_pause_agent('ks-agent', 'in a savepoint');
ROLLBACK TO SAVEPOINT s;
SELECT execlave_agent_status('ks-agent') AS after_savepoint_rollback;
COMMIT;

-- Bad input writes nothing
SELECT expect_error($$SELECT execlave_pause_agent('ks-agent', NULL)$$);
SELECT expect_error($$SELECT execlave_pause_agent('ks-agent', '   ')$$);
SELECT expect_error($$SELECT execlave_pause_agent('ks-agent', repeat('x', 2001))$$);
SELECT expect_error($$UPDATE execlave.agents SET status = 'paused', pause_reason = repeat('x', 2001) WHERE key = 'ks-agent'$$);
SELECT expect_error($$SELECT execlave_pause_agent(NULL, 'why')$$);
SELECT expect_error($$SELECT execlave_pause_agent('', 'why')$$);
SELECT expect_error($$SELECT execlave_pause_agent('no-such-agent', 'why')$$);
SELECT expect_error($$SELECT execlave_pause_agent('not a key', 'why')$$);
SELECT expect_error($$SELECT execlave_resume_agent(NULL)$$);
SELECT expect_error($$SELECT execlave_resume_agent('no-such-agent')$$);
SELECT count(*) = :hist_before AS history_unchanged FROM execlave.agent_status_history;
SELECT execlave_agent_status('ks-agent') AS still_active;

-- Archived agents are refused work (EX004) and cannot be paused or resumed
SELECT execlave_register_agent('retired-agent') IS NOT NULL AS registered;
UPDATE execlave.agents SET status = 'archived' WHERE key = 'retired-agent';
SELECT expect_error($$SELECT execlave_assert_active('retired-agent')$$);
SELECT expect_error($$SELECT execlave_pause_agent('retired-agent', 'why')$$);
SELECT execlave_resume_agent('retired-agent') AS resume_archived;

-- A pause written in plain SQL is a pause like any other
UPDATE execlave.agents SET status = 'paused', pause_reason = 'manual' WHERE key = 'ks-agent';
SELECT expect_error($$SELECT execlave_assert_active('ks-agent')$$);
SELECT paused_by = current_user AS stamped, paused_at IS NOT NULL AS timed FROM execlave.agents WHERE key = 'ks-agent';
SELECT execlave_resume_agent('ks-agent') AS resumed;

-- The longest reason allowed still fits the NOTIFY payload
SELECT execlave_pause_agent('ks-agent', repeat('r', 2000)) AS long_reason_paused;
SELECT execlave_resume_agent('ks-agent') AS resumed;
