-- Trace ingestion: agent by key or UUID, the kill switch on INSERT.
SELECT execlave_register_agent('trace-agent') AS id \gset
SELECT execlave_register_agent('other-agent') AS other_id \gset

-- By key: agent_id is filled in
INSERT INTO execlave.traces (agent_key, input, output, cost_usd, total_tokens)
VALUES ('trace-agent', 'hello', 'world', 0.0012, 42)
RETURNING trace_id ~ '^tr_[0-9a-f]{16}$' AS id_format, agent_id = :'id' AS id_filled, agent_key, status;

-- By UUID in agent_key: the canonical key is filled in
INSERT INTO execlave.traces (agent_key, input) VALUES (:'id', 'by uuid text')
RETURNING agent_id = :'id' AS id_filled, agent_key;

-- By agent_id
INSERT INTO execlave.traces (agent_id, input) VALUES (:'id', 'by id')
RETURNING agent_key;

-- Both, consistent
INSERT INTO execlave.traces (agent_id, agent_key, input) VALUES (:'id', 'trace-agent', 'both')
RETURNING agent_key;

-- Through the function, with product field names
SELECT execlave_submit_trace('trace-agent', '{"input": "q", "output": "a", "model": "gpt-4o",
    "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "cost_usd": 0.003,
    "duration_ms": 812.5, "status": "success", "session_id": "s1", "user_id": "u1",
    "tags": ["a", "b"], "metadata": {"k": 1}, "span_type": "llm"}') ~ '^tr_' AS submitted;
SELECT execlave_submit_trace('trace-agent', '{"trace_id": "tr_00000000000000aa", "started_at": "2026-01-01T00:00:00Z", "input": "fixed id"}');

SELECT count(*) AS traces_for_agent FROM execlave.traces WHERE agent_id = :'id';

-- A paused agent's traces are refused, naming the agent, with nothing written
SELECT count(*) AS before FROM execlave.traces \gset
SELECT execlave_pause_agent('trace-agent', 'investigating');
SELECT expect_error($$INSERT INTO execlave.traces (agent_key, input) VALUES ('trace-agent', 'x')$$);
SELECT expect_error(format('INSERT INTO execlave.traces (agent_id, input) VALUES (%L, %L)', :'id', 'x'));
SELECT expect_error($$SELECT execlave_submit_trace('trace-agent', '{"input": "x"}')$$);
-- a multi-row insert is refused whole
SELECT expect_error(format('INSERT INTO execlave.traces (agent_id, input) VALUES (%L, %L), (%L, %L)',
                           :'other_id', 'fine', :'id', 'refused'));
SELECT count(*) = :before AS nothing_written FROM execlave.traces;
-- other agents are unaffected
INSERT INTO execlave.traces (agent_key, input) VALUES ('other-agent', 'still fine') RETURNING agent_key;
SELECT execlave_resume_agent('trace-agent');
INSERT INTO execlave.traces (agent_key, input) VALUES ('trace-agent', 'after resume') RETURNING agent_key;

-- Bad input
SELECT count(*) AS before FROM execlave.traces \gset
SELECT expect_error($$INSERT INTO execlave.traces (input) VALUES ('no agent')$$);
SELECT expect_error($$INSERT INTO execlave.traces (agent_key, input) VALUES ('no-such-agent', 'x')$$);
SELECT expect_error($$INSERT INTO execlave.traces (agent_id, input) VALUES ('123e4567-e89b-12d3-a456-426614174000', 'x')$$);
SELECT expect_error($$INSERT INTO execlave.traces (agent_id, input) VALUES ('not-a-uuid', 'x')$$);
SELECT expect_error($$INSERT INTO execlave.traces (agent_key, input) VALUES ('bad key!', 'x')$$);
SELECT expect_error(format('INSERT INTO execlave.traces (agent_id, agent_key) VALUES (%L, %L)', :'id', 'other-agent'));
SELECT expect_error($$INSERT INTO execlave.traces (agent_key, status) VALUES ('trace-agent', 'great')$$);
SELECT expect_error($$INSERT INTO execlave.traces (agent_key, cost_usd) VALUES ('trace-agent', -1)$$);
SELECT expect_error($$INSERT INTO execlave.traces (agent_key, cost_usd) VALUES ('trace-agent', 'NaN')$$);
SELECT expect_error($$INSERT INTO execlave.traces (agent_key, total_tokens) VALUES ('trace-agent', -5)$$);
SELECT expect_error($$INSERT INTO execlave.traces (agent_key, duration_ms) VALUES ('trace-agent', -0.5)$$);
SELECT expect_error($$INSERT INTO execlave.traces (agent_key, trace_id) VALUES ('trace-agent', '')$$);
SELECT expect_error($$SELECT execlave_submit_trace(NULL, '{}')$$);
SELECT expect_error($$SELECT execlave_submit_trace('trace-agent', NULL)$$);
SELECT expect_error($$SELECT execlave_submit_trace('trace-agent', '[1]')$$);
SELECT expect_error($$SELECT execlave_submit_trace('trace-agent', '{"inptu": "typo", "zzz": 1}')$$);
SELECT expect_error($$SELECT execlave_submit_trace('trace-agent', '{"total_tokens": "many"}')$$);
-- the same trace sent twice (same id and time) is a duplicate
SELECT expect_error($$SELECT execlave_submit_trace('trace-agent', '{"trace_id": "tr_00000000000000aa", "started_at": "2026-01-01T00:00:00Z"}')$$);
SELECT count(*) = :before AS nothing_written FROM execlave.traces;

-- Per-agent time-range queries use the index
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM execlave.traces
WHERE agent_id = '123e4567-e89b-12d3-a456-426614174000' AND started_at >= '2026-01-01';
RESET enable_seqscan;
