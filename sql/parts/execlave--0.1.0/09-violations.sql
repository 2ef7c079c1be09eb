-------------------------------------------------------------------------------
-- Violations: append-only record of every policy violation
-------------------------------------------------------------------------------
CREATE TABLE execlave.violations (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    policy_id   uuid        NOT NULL,
    policy_name text        COLLATE "C" NOT NULL,
    policy_type text        NOT NULL,
    mode        text        NOT NULL,
    agent_id    uuid        NOT NULL,
    agent_key   text        COLLATE "C" NOT NULL,
    trace_id    text,
    phase       text        NOT NULL,
    message     text        NOT NULL,
    details     jsonb       NOT NULL DEFAULT '{}',
    recorded_by text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT violations_phase_check CHECK (phase IN ('pre_execution', 'ingestion')),
    CONSTRAINT violations_mode_check CHECK (mode IN ('log', 'flag', 'block')),
    CONSTRAINT violations_details_check CHECK (pg_catalog.jsonb_typeof(details) = 'object')
);
CREATE INDEX violations_agent_idx ON execlave.violations (agent_id, created_at);
CREATE INDEX violations_policy_idx ON execlave.violations (policy_id, created_at);
CREATE INDEX violations_created_idx ON execlave.violations (created_at);
CREATE INDEX violations_trace_idx ON execlave.violations (trace_id) WHERE trace_id IS NOT NULL;
COMMENT ON TABLE execlave.violations IS 'Append-only record of policy violations. Block-mode violations are committed even when the refused statement rolls back';
COMMENT ON COLUMN execlave.violations.policy_id IS 'Policy that was violated (no foreign key: violations outlive dropped policies)';
COMMENT ON COLUMN execlave.violations.trace_id IS 'Trace that violated (ingestion phase); for a blocked trace, the id it would have had';
COMMENT ON COLUMN execlave.violations.phase IS 'pre_execution (execlave_enforce) or ingestion (trace insert)';
COMMENT ON COLUMN execlave.violations.details IS 'What was found: counts, positions, pattern names, scores, short keyed hashes; never the raw sensitive value';
COMMENT ON COLUMN execlave.violations.recorded_by IS 'Role whose request violated the policy';
SELECT pg_catalog.pg_extension_config_dump('execlave.violations', '');
SELECT pg_catalog.pg_extension_config_dump('execlave.violations_id_seq', '');

CREATE TRIGGER violations_append_only
    BEFORE UPDATE OR DELETE ON execlave.violations
    FOR EACH ROW EXECUTE FUNCTION execlave.forbid_change();

-- Key for the short hashes of found PII values in violation details (an
-- HMAC, so a hash of a low-entropy value such as an SSN cannot be reversed
-- by enumeration).  Readable by the extension owner only.
CREATE TABLE execlave.pii_hash_key (
    key         bytea       NOT NULL,
    CONSTRAINT pii_hash_key_length CHECK (octet_length(key) = 32)
);
CREATE UNIQUE INDEX pii_hash_key_one_row ON execlave.pii_hash_key ((true));
COMMENT ON TABLE execlave.pii_hash_key IS 'Secret key of the keyed hashes in violation details; one row, created at install, readable by the extension owner only';
INSERT INTO execlave.pii_hash_key (key)
VALUES (pg_catalog.decode(pg_catalog.replace(
    pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text, '-', ''), 'hex'));
-- Registered so pg_dump knows of it, with a filter that dumps no row: a
-- restored database keeps the key its own CREATE EXTENSION made.
SELECT pg_catalog.pg_extension_config_dump('execlave.pii_hash_key', 'WHERE false');

-- Kill switch pulled by a cost policy whose action is pause_agent.  Internal
-- (C and record_violations only); the agent's paused_by is the extension
-- owner and the reason names the policy.
CREATE FUNCTION execlave.pause_for_policy(agent uuid, reason text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE execlave.agents a SET status = 'paused', pause_reason = left(reason, 2000)
    WHERE a.id = agent AND a.status IN ('active', 'inactive');
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION execlave.pause_for_policy(uuid, text) IS 'Internal: pause an agent for a pause_agent cost policy (no-op unless active or inactive)';

-- cost.threshold or trace.anomaly events of a trace, one per array element.
CREATE FUNCTION execlave.emit_signals(event_type text, agent uuid, items jsonb) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT execlave.emit_event(event_type, agent, jsonb_build_object('agent_id', agent) || e)
    FROM jsonb_array_elements(items) AS e;
$$;
COMMENT ON FUNCTION execlave.emit_signals(text, uuid, jsonb) IS 'Internal: emit one cost.threshold or trace.anomaly event per element of a JSON array of event data';

-- Writes violations and their policy.violated events.  Called from C only
-- (in the caller's transaction, or by the recorder worker for blocked
-- requests); granted to no role.
CREATE FUNCTION execlave.record_violations(violations jsonb) RETURNS bigint[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v record;
    ids bigint[] := '{}';
BEGIN
    FOR v IN
        INSERT INTO execlave.violations (policy_id, policy_name, policy_type, mode, agent_id,
            agent_key, trace_id, phase, message, details, recorded_by)
        SELECT r.policy_id, r.policy_name, r.policy_type, r.mode, r.agent_id, r.agent_key,
            r.trace_id, r.phase, r.message, coalesce(r.details, '{}'), r.recorded_by
        FROM jsonb_to_recordset(violations) AS r(policy_id uuid, policy_name text,
            policy_type text, mode text, agent_id uuid, agent_key text, trace_id text,
            phase text, message text, details jsonb, recorded_by text)
        RETURNING *
    LOOP
        ids := ids || v.id;
        IF v.mode IN ('flag', 'block') THEN
            PERFORM execlave.emit_event('policy.violated', v.agent_id, jsonb_build_object(
                'violation_id', v.id, 'policy_id', v.policy_id, 'policy_name', v.policy_name,
                'policy_type', v.policy_type, 'mode', v.mode, 'phase', v.phase,
                'agent_id', v.agent_id, 'agent_key', v.agent_key, 'trace_id', v.trace_id,
                'message', v.message));
        END IF;
    END LOOP;
    -- refused by a cost policy with action pause_agent: the pause is recorded with it
    PERFORM execlave.pause_for_policy(r.agent_id, r.pause_reason)
    FROM jsonb_to_recordset(violations) AS r(agent_id uuid, pause_reason text)
    WHERE r.pause_reason IS NOT NULL;
    RETURN ids;
END
$$;
COMMENT ON FUNCTION execlave.record_violations(jsonb) IS 'Internal: insert violations (a JSON array), emit policy.violated for flag and block modes, and pause agents for pause_agent cost policies';

CREATE FUNCTION execlave_enforce(agent text, input text, model text DEFAULT NULL,
                                 estimated_cost numeric DEFAULT NULL, tools text[] DEFAULT NULL,
                                 metadata jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'execlave_enforce';
COMMENT ON FUNCTION execlave_enforce(text, text, text, numeric, text[], jsonb) IS 'Pre-execution check: evaluates the agent''s active policies on the request and records violations. Returns {allowed, violations[], warnings[]}; never raises for a policy outcome';

CREATE FUNCTION execlave_enforce_strict(agent text, input text, model text DEFAULT NULL,
                                        estimated_cost numeric DEFAULT NULL, tools text[] DEFAULT NULL,
                                        metadata jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'execlave_enforce_strict';
COMMENT ON FUNCTION execlave_enforce_strict(text, text, text, numeric, text[], jsonb) IS 'execlave_enforce() for callers who prefer exceptions: raises EX001 for a paused agent and EX003 (violations in the detail) for a blocked request; otherwise returns the same answer';

CREATE FUNCTION execlave_usage(agent text)
RETURNS TABLE (period text, period_start timestamptz, requests bigint, spend_usd numeric)
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'execlave_usage';
COMMENT ON FUNCTION execlave_usage(text) IS 'The agent''s windowed usage as rate_limit, cost_limit and budget_cap policies see it: requests this UTC minute and hour, spend this UTC day and calendar month (committed and in-progress traces)';

CREATE FUNCTION execlave_anomaly_baseline(agent text)
RETURNS TABLE (metric text, observations bigint, mean double precision, stddev double precision)
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'execlave_anomaly_baseline';
COMMENT ON FUNCTION execlave_anomaly_baseline(text) IS 'The running statistics trace.anomaly compares an agent''s traces with: exponentially weighted mean and standard deviation of latency, cost and total tokens, and the error rate';

