-- Agents: registration, references by key or UUID, bad input.

-- Registration is idempotent on key and returns the UUID
SELECT execlave_register_agent('my-assistant', 'My assistant', 'answers questions',
                               ARRAY['prod'], '{"team": "support"}') AS id \gset
SELECT execlave_register_agent('my-assistant', 'another name') = :'id' AS same_id;
SELECT key, name, description, status, tags, metadata, pause_reason, paused_at, paused_by,
       status_changed_by = current_user AS stamped
FROM execlave.agents WHERE key = 'my-assistant';

-- Every agent function accepts the key or the UUID
SELECT execlave_agent_status('my-assistant') AS by_key, execlave_agent_status(:'id') AS by_id;
SELECT execlave.resolve_agent('my-assistant') = :'id' AS resolved;
SELECT execlave.resolve_agent(upper(:'id')) = :'id' AS uppercase_uuid;

-- Keys may use letters, digits and . _ : @ -
SELECT execlave_register_agent('agent-a') IS NOT NULL AS a,
       execlave_register_agent('team.bot_2:v1@eu') IS NOT NULL AS punctuated,
       execlave_register_agent(repeat('k', 128)) IS NOT NULL AS longest;

-- Registration records a history row
SELECT agent_key, old_status, new_status FROM execlave.agent_status_history
WHERE agent_key IN ('my-assistant', 'agent-a') ORDER BY id;

-- Bad input: clear error, stable SQLSTATE, nothing written
SELECT count(*) AS agents_before FROM execlave.agents \gset
SELECT expect_error($$SELECT execlave_register_agent(NULL)$$);
SELECT expect_error($$SELECT execlave_register_agent('')$$);
SELECT expect_error($$SELECT execlave_register_agent(repeat('k', 129))$$);
SELECT expect_error($$SELECT execlave_register_agent('has space')$$);
SELECT expect_error($$SELECT execlave_register_agent('-leading-dash')$$);
SELECT expect_error($$SELECT execlave_register_agent('x;DROP TABLE execlave.agents;--')$$);
SELECT expect_error($$SELECT execlave_register_agent('quote''s')$$);
SELECT expect_error($$SELECT execlave_register_agent('123e4567-e89b-12d3-a456-426614174000')$$);
SELECT expect_error($$SELECT execlave_register_agent('abcdefgh-ijkl-mnop-qrst-uvwxyzabcdef')$$);
SELECT expect_error($$SELECT execlave_register_agent('ok-key', metadata => '[1,2]')$$);
SELECT count(*) = :agents_before AS nothing_written FROM execlave.agents;

-- The table itself refuses malformed keys written in plain SQL
SELECT expect_error($$INSERT INTO execlave.agents (key) VALUES ('bad key')$$);
SELECT expect_error($$INSERT INTO execlave.agents (key) VALUES ('123e4567-e89b-12d3-a456-426614174000')$$);
SELECT expect_error($$INSERT INTO execlave.agents (key, status) VALUES ('new-one', 'sleeping')$$);

-- Resolving references
SELECT expect_error($$SELECT execlave_agent_status(NULL)$$);
SELECT expect_error($$SELECT execlave_agent_status('')$$);
SELECT expect_error($$SELECT execlave_agent_status(repeat('a', 129))$$);
SELECT expect_error($$SELECT execlave_agent_status('no-such-agent')$$);
SELECT expect_error($$SELECT execlave_agent_status('123e4567-e89b-12d3-a456-426614174000')$$);
SELECT expect_error($$SELECT execlave_agent_status('123e4567-e89b-12d3-a456-42661417400g')$$);
SELECT expect_error($$SELECT execlave_agent_status('{123e4567-e89b-12d3-a456-426614174000}')$$);
SELECT expect_error($$SELECT execlave_agent_status('a''; DROP TABLE x; --')$$);
SELECT expect_error($$SELECT execlave_assert_active('no-such-agent')$$);

-- A DBA may manage agents in plain SQL: the triggers keep the bookkeeping
UPDATE execlave.agents SET status = 'inactive' WHERE key = 'agent-a';
SELECT execlave_agent_status('agent-a');
SELECT execlave_assert_active('agent-a') IS NOT NULL AS inactive_agents_pass;
SELECT old_status, new_status, changed_by = current_user AS by_me
FROM execlave.agent_status_history WHERE agent_key = 'agent-a' ORDER BY id;
UPDATE execlave.agents SET description = 'renamed' WHERE key = 'agent-a';
SELECT count(*) AS history_rows_after_non_status_update
FROM execlave.agent_status_history WHERE agent_key = 'agent-a';
UPDATE execlave.agents SET status = 'active' WHERE key = 'agent-a';

-- An agent looked up before it existed is found once registered (misses are cached, then invalidated)
SELECT expect_error($$SELECT execlave_agent_status('late-agent')$$);
SELECT expect_error($$SELECT execlave_agent_status('late-agent')$$);
SELECT execlave_register_agent('late-agent') IS NOT NULL AS registered;
SELECT execlave_agent_status('late-agent');
