-- Roles: execlave_app may check and submit but not pause; execlave_reader only reads.
CREATE ROLE regress_app LOGIN IN ROLE execlave_app;
CREATE ROLE regress_reader LOGIN IN ROLE execlave_reader;
CREATE ROLE regress_admin LOGIN IN ROLE execlave_admin;
CREATE ROLE regress_nobody LOGIN;

SELECT execlave_register_agent('role-agent') AS id \gset
SELECT count(*) AS hist_before FROM execlave.agent_status_history \gset

-- The admin manages agents
SET ROLE regress_admin;
SELECT execlave_register_agent('admin-made') IS NOT NULL AS registered;
SELECT execlave_pause_agent('role-agent', 'admin pause') AS paused;
SELECT paused_by FROM execlave.agents WHERE key = 'role-agent';
SELECT execlave_resume_agent('role-agent') AS resumed;
SELECT changed_by FROM execlave.agent_status_history WHERE agent_key = 'role-agent' ORDER BY id DESC LIMIT 1;
RESET ROLE;

-- The app checks status and submits traces, but cannot pause, resume or register
SET ROLE regress_app;
SELECT execlave_agent_status('role-agent');
SELECT execlave_assert_active('role-agent') IS NOT NULL AS checked;
SELECT execlave_submit_trace('role-agent', '{"input": "from app"}') ~ '^tr_' AS submitted;
INSERT INTO execlave.traces (agent_key, input) VALUES ('role-agent', 'direct') RETURNING agent_key;
SELECT expect_error($$SELECT execlave_pause_agent('role-agent', 'app tries')$$);
SELECT expect_error($$SELECT execlave_resume_agent('role-agent')$$);
SELECT expect_error($$SELECT execlave_register_agent('app-made')$$);
SELECT expect_error($$UPDATE execlave.agents SET status = 'paused' WHERE key = 'role-agent'$$);
SELECT expect_error($$INSERT INTO execlave.events (event_type, data) VALUES ('agent.paused', '{}')$$);
SELECT expect_error($$SELECT execlave.emit_event('agent.paused', NULL, '{}')$$);
RESET ROLE;

-- The reader reads and writes nothing
SET ROLE regress_reader;
SELECT execlave_agent_status('role-agent');
SELECT count(*) > 0 AS can_read FROM execlave.agents;
SELECT expect_error($$SELECT execlave_pause_agent('role-agent', 'reader tries')$$);
SELECT expect_error($$SELECT execlave_register_agent('reader-made')$$);
SELECT expect_error($$INSERT INTO execlave.traces (agent_key) VALUES ('role-agent')$$);
SELECT expect_error($$SELECT execlave_submit_trace('role-agent', '{}')$$);
SELECT expect_error($$UPDATE execlave.agents SET name = 'x'$$);
SELECT expect_error($$DELETE FROM execlave.traces$$);
SELECT expect_error($$INSERT INTO execlave.agent_status_history (agent_id, agent_key, new_status, changed_by, changed_at) VALUES (gen_random_uuid(), 'x', 'active', 'me', now())$$);
RESET ROLE;

-- A role outside execlave gets nothing
SET ROLE regress_nobody;
SELECT expect_error($$SELECT execlave_agent_status('role-agent')$$);
SELECT expect_error($$SELECT * FROM execlave.agents$$);
RESET ROLE;

SELECT execlave_agent_status('role-agent') AS unchanged;
SELECT count(*) - :hist_before AS history_rows_added FROM execlave.agent_status_history;

DROP ROLE regress_app, regress_reader, regress_admin, regress_nobody;
