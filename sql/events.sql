-- Events: written with the change that caused them, append-only, rolled back with it.
SELECT execlave_register_agent('event-agent') AS id \gset
SELECT coalesce(max(id), 0) AS last_event FROM execlave.events \gset

SELECT execlave_pause_agent('event-agent', 'cost spike');
SELECT execlave_resume_agent('event-agent');

SELECT event_type, agent_id = :'id' AS right_agent,
       data - 'changed_at' - 'agent_id' AS data,
       data ->> 'agent_id' = :'id' AS data_names_agent
FROM execlave.events WHERE id > :last_event ORDER BY id;

-- Each event is in the transaction of its change
SELECT count(DISTINCT xact_id) AS transactions FROM execlave.events WHERE id > :last_event;

-- Registration and no-op calls raise no event
SELECT execlave_register_agent('quiet-agent') IS NOT NULL AS registered;
SELECT execlave_resume_agent('quiet-agent') AS noop;
SELECT count(*) AS events_now FROM execlave.events WHERE id > :last_event;

-- A rolled-back pause leaves no event
BEGIN;
SELECT execlave_pause_agent('event-agent', 'will roll back');
SELECT count(*) AS events_inside FROM execlave.events WHERE id > :last_event;
ROLLBACK;
SELECT count(*) AS events_after_rollback FROM execlave.events WHERE id > :last_event;

-- Append-only: history and events refuse UPDATE and DELETE
SELECT expect_error($$UPDATE execlave.events SET data = '{}'$$);
SELECT expect_error($$DELETE FROM execlave.events$$);
SELECT expect_error($$UPDATE execlave.agent_status_history SET reason = 'rewritten'$$);
SELECT expect_error($$DELETE FROM execlave.agent_status_history$$);

-- Unknown event types are refused by the emit function's table
SELECT expect_error($$SELECT execlave.emit_event('agent.exploded', NULL, '{}')$$);
SELECT expect_error($$SELECT execlave.emit_event('agent.paused', NULL, '[]')$$);
