-- Trace ingestion: agent by key or UUID, the kill switch on INSERT.
-- (fixed times of early 2026 are accepted: the window behind the clock is widened)
SET execlave.trace_max_age_days = 36500;
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

-------------------------------------------------------------------------------
-- Trace times: only a bounded window around the clock is accepted (by
-- default 5 minutes ahead, execlave.trace_retention_days behind), finite;
-- a refused trace writes nothing
-------------------------------------------------------------------------------
RESET execlave.trace_max_age_days;
SELECT count(*) AS traces_before FROM execlave.traces \gset
SELECT expect_error($$INSERT INTO execlave.traces (agent_key, started_at) VALUES ('trace-agent', 'infinity')$$);
SELECT expect_error($$INSERT INTO execlave.traces (agent_key, started_at) VALUES ('trace-agent', '-infinity')$$);
SELECT expect_error($$INSERT INTO execlave.traces (agent_key, started_at) VALUES ('trace-agent', '294276-12-31 23:59:59+00')$$);
SELECT expect_error($$INSERT INTO execlave.traces (agent_key, started_at) VALUES ('trace-agent', '2100-01-01 00:00:00+00')$$);
SELECT expect_error($$INSERT INTO execlave.traces (agent_key, started_at) VALUES ('trace-agent', '2000-01-01 00:00:00+00')$$);
SELECT left(expect_error($$INSERT INTO execlave.traces (agent_key, started_at) VALUES ('trace-agent', now() + interval '10 minutes')$$), 6) AS ten_minutes_ahead;
SELECT left(expect_error($$INSERT INTO execlave.traces (agent_key, started_at) VALUES ('trace-agent', now() - interval '31 days')$$), 6) AS a_month_ago;
SELECT left(expect_error($$SELECT execlave_submit_trace('trace-agent', '{"started_at": "2100-01-01T00:00:00Z"}')$$), 6) AS submit_far_ahead;
-- a multi-row insert with one trace out of the window is refused whole
SELECT left(expect_error($$INSERT INTO execlave.traces (agent_key, started_at) VALUES ('trace-agent', now()), ('trace-agent', 'infinity')$$), 6) AS batch;
SELECT count(*) - :traces_before AS written FROM execlave.traces;
-- inside the window: accepted
INSERT INTO execlave.traces (agent_key, started_at) VALUES ('trace-agent', now() + interval '4 minutes'), ('trace-agent', now() - interval '29 days');
SELECT count(*) - :traces_before AS written FROM execlave.traces;
-- the window follows the settings (superuser only)
SET execlave.trace_max_future = '1h';
INSERT INTO execlave.traces (agent_key, started_at) VALUES ('trace-agent', now() + interval '50 minutes');
SET execlave.trace_retention_days = 0;
SET execlave.trace_max_age_days = 0;
INSERT INTO execlave.traces (agent_key, started_at) VALUES ('trace-agent', now() - interval '3000 days');
SELECT left(expect_error($$INSERT INTO execlave.traces (agent_key, started_at) VALUES ('trace-agent', now() - interval '3700 days')$$), 6) AS beyond_ten_years;
RESET execlave.trace_max_future;
RESET execlave.trace_retention_days;
RESET execlave.trace_max_age_days;
-- ingested_at is always the clock of the windows, whatever the client gives
INSERT INTO execlave.traces (trace_id, agent_key, ingested_at) VALUES ('tr_ingested_given', 'trace-agent', 'infinity');
SELECT ingested_at BETWEEN now() - interval '1 minute' AND now() AS ingested_now FROM execlave.traces WHERE trace_id = 'tr_ingested_given';
CREATE ROLE regress_trace_app LOGIN IN ROLE execlave_app;
SET ROLE regress_trace_app;
SELECT expect_error($$SET execlave.trace_max_future = '100d'$$);
RESET ROLE;
DROP ROLE regress_trace_app;
