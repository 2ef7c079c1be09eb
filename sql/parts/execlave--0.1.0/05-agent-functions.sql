-------------------------------------------------------------------------------
-- Agent functions (C, hot path).  The checks are VOLATILE: they answer from
-- the latest committed state, not the statement's snapshot, and must never be
-- optimised away when their result is unused.
-------------------------------------------------------------------------------
CREATE FUNCTION execlave.resolve_agent(agent text) RETURNS uuid
LANGUAGE C STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_resolve_agent';
COMMENT ON FUNCTION execlave.resolve_agent(text) IS 'UUID of the agent named by key or UUID; raises EX002 when unknown, 22023 when malformed, 22004 on NULL';

CREATE FUNCTION execlave_agent_status(agent text) RETURNS text
LANGUAGE C VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_agent_status';
COMMENT ON FUNCTION execlave_agent_status(text) IS 'Status of an agent (by key or UUID) from the backend-local cache; sees every committed change at the next call';

CREATE FUNCTION execlave_assert_active(agent text) RETURNS void
LANGUAGE C VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_assert_active';
COMMENT ON FUNCTION execlave_assert_active(text) IS 'Kill-switch check: raises EX001 if the agent is paused, EX004 if archived, EX002 if unknown';

-------------------------------------------------------------------------------
-- Agent management (SQL; runs as the caller, so table privileges apply)
-------------------------------------------------------------------------------
CREATE FUNCTION execlave.check_not_null(value anyelement, what text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', what USING ERRCODE = 'null_value_not_allowed';
    END IF;
END
$$;
COMMENT ON FUNCTION execlave.check_not_null(anyelement, text) IS 'Raise 22004 naming the argument when value is NULL';

CREATE FUNCTION execlave_register_agent(
    key text,
    name text DEFAULT NULL,
    description text DEFAULT NULL,
    tags text[] DEFAULT '{}',
    metadata jsonb DEFAULT '{}')
RETURNS uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    agent_id uuid;
BEGIN
    PERFORM execlave.check_not_null(key, 'key');
    IF key = '' THEN
        RAISE EXCEPTION 'agent key must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF octet_length(key) > 128 THEN
        RAISE EXCEPTION 'agent key is too long (% bytes, at most 128)', octet_length(key)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF key !~ '^[A-Za-z0-9][A-Za-z0-9._:@-]*$' THEN
        RAISE EXCEPTION 'invalid agent key "%"', key
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A key starts with a letter or digit and continues with letters, digits, ''.'', ''_'', '':'', ''@'' or ''-''.';
    END IF;
    IF key ~ '^.{8}-.{4}-.{4}-.{4}-.{12}$' THEN
        RAISE EXCEPTION 'agent key "%" must not have the layout of a UUID (8-4-4-4-12)', key
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'UUIDs name agents by id; choose a descriptive key.';
    END IF;
    IF metadata IS NOT NULL AND jsonb_typeof(metadata) <> 'object' THEN
        RAISE EXCEPTION 'metadata must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    INSERT INTO execlave.agents (key, name, description, tags, metadata)
    VALUES (key, name, description, coalesce(tags, '{}'), coalesce(metadata, '{}'))
    ON CONFLICT ON CONSTRAINT agents_key_key DO NOTHING
    RETURNING id INTO agent_id;

    IF agent_id IS NULL THEN
        SELECT a.id INTO agent_id FROM execlave.agents a WHERE a.key = execlave_register_agent.key;
    END IF;
    RETURN agent_id;
END
$$;
COMMENT ON FUNCTION execlave_register_agent(text, text, text, text[], jsonb) IS 'Register an agent; idempotent on key (an existing agent is returned unchanged). Returns its UUID';

CREATE FUNCTION execlave_pause_agent(agent text, reason text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    agent_id uuid;
    cur_status text;
BEGIN
    PERFORM execlave.check_not_null(reason, 'reason');
    IF btrim(reason) = '' THEN
        RAISE EXCEPTION 'reason must not be empty' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Say why the agent is paused; it is shown to whoever hits the kill switch.';
    END IF;
    IF octet_length(reason) > 2000 THEN
        RAISE EXCEPTION 'reason is too long (% bytes, at most 2000)', octet_length(reason)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    agent_id := execlave.resolve_agent(agent);

    SELECT a.status INTO cur_status FROM execlave.agents a WHERE a.id = agent_id FOR NO KEY UPDATE;
    IF cur_status = 'paused' THEN
        RETURN false;           -- already paused: the first reason and time stand
    ELSIF cur_status = 'archived' THEN
        RAISE EXCEPTION 'agent "%" is archived', agent USING ERRCODE = 'EX004';
    END IF;

    UPDATE execlave.agents a SET status = 'paused', pause_reason = reason WHERE a.id = agent_id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION execlave_pause_agent(text, text) IS 'Kill switch: pause an agent (by key or UUID) with a reason. Returns false, changing nothing, if it is already paused';

CREATE FUNCTION execlave_resume_agent(agent text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    agent_id uuid;
    cur_status text;
BEGIN
    agent_id := execlave.resolve_agent(agent);

    SELECT a.status INTO cur_status FROM execlave.agents a WHERE a.id = agent_id FOR NO KEY UPDATE;
    IF cur_status <> 'paused' THEN
        RETURN false;           -- not paused: nothing to resume
    END IF;

    UPDATE execlave.agents a SET status = 'active' WHERE a.id = agent_id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION execlave_resume_agent(text) IS 'Resume a paused agent (by key or UUID). Returns false, changing nothing, if it is not paused';

