-------------------------------------------------------------------------------
-- Traces
-------------------------------------------------------------------------------
CREATE FUNCTION execlave.new_trace_id() RETURNS text
LANGUAGE C VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_new_trace_id';
COMMENT ON FUNCTION execlave.new_trace_id() IS 'A new trace id: tr_ followed by 16 random hex digits';

CREATE TABLE execlave.traces (
    trace_id          text        NOT NULL DEFAULT execlave.new_trace_id(),
    agent_id          uuid        NOT NULL REFERENCES execlave.agents (id),
    agent_key         text        COLLATE "C",
    session_id        text,
    user_id           text,
    started_at        timestamptz NOT NULL DEFAULT pg_catalog.now(),
    duration_ms       double precision,
    status            text        NOT NULL DEFAULT 'success',
    input             text,
    output            text,
    error_message     text,
    error_type        text,
    model             text,
    prompt_tokens     integer,
    completion_tokens integer,
    total_tokens      integer,
    cost_usd          numeric,
    environment       text,
    tags              text[]      NOT NULL DEFAULT '{}',
    tools             text[]      NOT NULL DEFAULT '{}',
    metadata          jsonb       NOT NULL DEFAULT '{}',
    parent_trace_id   text,
    span_type         text,
    ingested_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT traces_trace_id_check CHECK (octet_length(trace_id) BETWEEN 1 AND 128),
    CONSTRAINT traces_status_check CHECK (status IN
        ('success', 'error', 'timeout', 'policy_blocked', 'limit_exceeded', 'flagged_for_review')),
    CONSTRAINT traces_duration_check CHECK (duration_ms >= 0 AND duration_ms < 'Infinity'),
    CONSTRAINT traces_tokens_check CHECK (prompt_tokens >= 0 AND completion_tokens >= 0 AND total_tokens >= 0),
    CONSTRAINT traces_cost_check CHECK (cost_usd >= 0 AND cost_usd < 'Infinity'),
    CONSTRAINT traces_metadata_check CHECK (pg_catalog.jsonb_typeof(metadata) = 'object')
) PARTITION BY RANGE (started_at);
-- The primary key (trace_id, started_at) and the index (agent_id, started_at)
-- are made on each partition, not on this parent: pg_dump then dumps them
-- with the partition (created by maintenance, so not a member of the
-- extension), and a restore does not meet the index ATTACH PARTITION would
-- otherwise create from a parent that CREATE EXTENSION already made.
-- (trace_id, started_at) includes the partition key, so per-partition keys
-- are keys of the whole table.
-- Rows whose time has no partition yet land here; execlave_maintenance()
-- moves them into partitions of their own day (or month).
CREATE TABLE execlave.traces_default PARTITION OF execlave.traces (
    CONSTRAINT traces_default_pkey PRIMARY KEY (trace_id, started_at)
) DEFAULT;
CREATE INDEX traces_default_agent_time_idx ON execlave.traces_default (agent_id, started_at);
COMMENT ON TABLE execlave.traces_default IS 'Traces whose started_at has no partition yet; execlave_maintenance() moves them into place';
SELECT pg_catalog.pg_extension_config_dump('execlave.traces_default', '');
COMMENT ON TABLE execlave.traces IS 'Traces of agent calls, range-partitioned by started_at (day or month, UTC). Every insert passes the ingestion trigger: agent resolution, the kill switch and policy evaluation';
COMMENT ON COLUMN execlave.traces.agent_id IS 'Agent UUID; filled in from agent_key when omitted';
COMMENT ON COLUMN execlave.traces.agent_key IS 'Agent key (a UUID is accepted too); filled in with the canonical key';
COMMENT ON COLUMN execlave.traces.started_at IS 'When the traced call happened (the product''s timestamp)';
COMMENT ON COLUMN execlave.traces.cost_usd IS 'Cost of the call in US dollars';
COMMENT ON COLUMN execlave.traces.tools IS 'Names of the tools the call used (checked by tool_access policies)';
COMMENT ON COLUMN execlave.traces.status IS 'success | error | timeout | policy_blocked | limit_exceeded | flagged_for_review (set by flag-mode policies)';
SELECT pg_catalog.pg_extension_config_dump('execlave.traces', '');

CREATE FUNCTION execlave.traces_before_insert() RETURNS trigger
LANGUAGE C AS 'MODULE_PATHNAME', 'execlave_traces_before_insert';
COMMENT ON FUNCTION execlave.traces_before_insert() IS 'Trigger: the trace ingestion entry point (agent resolution, kill switch, policies)';

CREATE TRIGGER traces_ingest
    BEFORE INSERT ON execlave.traces
    FOR EACH ROW EXECUTE FUNCTION execlave.traces_before_insert();

CREATE FUNCTION execlave_submit_trace(agent text, trace jsonb DEFAULT '{}')
RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    allowed constant text[] := ARRAY['trace_id', 'session_id', 'user_id', 'started_at',
        'duration_ms', 'status', 'input', 'output', 'error_message', 'error_type', 'model',
        'prompt_tokens', 'completion_tokens', 'total_tokens', 'cost_usd', 'environment',
        'tags', 'tools', 'metadata', 'parent_trace_id', 'span_type'];
    unknown text[];
    r execlave.traces;
    new_id text;
BEGIN
    PERFORM execlave.check_not_null(agent, 'agent');
    PERFORM execlave.check_not_null(trace, 'trace');
    IF jsonb_typeof(trace) <> 'object' THEN
        RAISE EXCEPTION 'trace must be a JSON object, not %', jsonb_typeof(trace)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT array_agg(k ORDER BY k) INTO unknown
    FROM jsonb_object_keys(trace) AS k WHERE k <> ALL (allowed);
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'unknown trace field(s): %', array_to_string(unknown, ', ')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Valid fields: ' || array_to_string(allowed, ', ') || '.';
    END IF;

    r := jsonb_populate_record(NULL::execlave.traces, trace);
    INSERT INTO execlave.traces (trace_id, agent_key, session_id, user_id, started_at,
        duration_ms, status, input, output, error_message, error_type, model,
        prompt_tokens, completion_tokens, total_tokens, cost_usd, environment, tags, tools,
        metadata, parent_trace_id, span_type)
    VALUES (coalesce(r.trace_id, execlave.new_trace_id()), agent, r.session_id, r.user_id,
        coalesce(r.started_at, now()), r.duration_ms, coalesce(r.status, 'success'), r.input,
        r.output, r.error_message, r.error_type, r.model, r.prompt_tokens, r.completion_tokens,
        r.total_tokens, r.cost_usd, r.environment, coalesce(r.tags, '{}'), coalesce(r.tools, '{}'),
        coalesce(r.metadata, '{}'), r.parent_trace_id, r.span_type)
    RETURNING trace_id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION execlave_submit_trace(text, jsonb) IS 'Submit one trace for an agent (key or UUID) from a JSON object of trace fields; returns the trace id. Same path as INSERT INTO execlave.traces';

