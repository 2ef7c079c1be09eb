/*
 * execlave 0.1.0: install script.
 *
 * Layout: tables and internal helpers live in schema execlave; user-facing
 * functions (execlave_*) are created in the extension's schema (public by
 * default) so they resolve with a default search_path.  Function bodies name
 * only the fixed schemas execlave and pg_catalog.  SECURITY DEFINER functions
 * pin search_path = pg_catalog, pg_temp.
 */

\echo Use "CREATE EXTENSION execlave" to load this file. \quit

CREATE SCHEMA execlave;
COMMENT ON SCHEMA execlave IS 'execlave: tables and internal functions of the AI-agent governance layer';

-------------------------------------------------------------------------------
-- Roles (cluster-wide; created when absent, never dropped by the extension)
-------------------------------------------------------------------------------
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'execlave_reader') THEN
        CREATE ROLE execlave_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'execlave_app') THEN
        CREATE ROLE execlave_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'execlave_admin') THEN
        CREATE ROLE execlave_admin NOLOGIN;
    END IF;
END
$roles$;

GRANT USAGE ON SCHEMA execlave TO execlave_reader, execlave_app, execlave_admin;

-------------------------------------------------------------------------------
-- Agents
-------------------------------------------------------------------------------
CREATE TABLE execlave.agents (
    id              uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    key             text        COLLATE "C" NOT NULL,
    name            text,
    description     text,
    status          text        NOT NULL DEFAULT 'active',
    pause_reason    text,
    paused_at       timestamptz,
    paused_by       text,
    status_changed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    status_changed_by text      NOT NULL DEFAULT CURRENT_USER,
    tags            text[]      NOT NULL DEFAULT '{}',
    metadata        jsonb       NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT agents_pkey PRIMARY KEY (id),
    CONSTRAINT agents_key_key UNIQUE (key),
    CONSTRAINT agents_key_check CHECK (
        key ~ '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$'
        AND key !~ '^.{8}-.{4}-.{4}-.{4}-.{12}$'),
    CONSTRAINT agents_status_check CHECK (status IN ('active', 'paused', 'inactive', 'archived')),
    CONSTRAINT agents_pause_check CHECK ((status = 'paused') = (paused_at IS NOT NULL)),
    CONSTRAINT agents_pause_reason_check CHECK (octet_length(pause_reason) <= 2000),
    CONSTRAINT agents_metadata_check CHECK (pg_catalog.jsonb_typeof(metadata) = 'object')
);
COMMENT ON TABLE execlave.agents IS 'Governed AI agents: one row per agent, with its kill-switch status';
COMMENT ON COLUMN execlave.agents.id IS 'Server-assigned UUID';
COMMENT ON COLUMN execlave.agents.key IS 'Stable caller-chosen key (e.g. my-assistant): letters, digits, . _ : @ -, at most 128 bytes, never in the 8-4-4-4-12 layout of a UUID';
COMMENT ON COLUMN execlave.agents.status IS 'active | paused | inactive | archived; paused and archived agents are refused new work';
COMMENT ON COLUMN execlave.agents.pause_reason IS 'Why the agent was paused, at most 2000 bytes (NULL unless paused)';
COMMENT ON COLUMN execlave.agents.paused_at IS 'When the agent was paused (NULL unless paused)';
COMMENT ON COLUMN execlave.agents.paused_by IS 'Role that paused the agent (NULL unless paused)';
COMMENT ON COLUMN execlave.agents.status_changed_at IS 'When the status last changed';
COMMENT ON COLUMN execlave.agents.status_changed_by IS 'Role that last changed the status';
SELECT pg_catalog.pg_extension_config_dump('execlave.agents', '');

CREATE TABLE execlave.agent_status_history (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_id    uuid        NOT NULL,
    agent_key   text        COLLATE "C" NOT NULL,
    old_status  text,
    new_status  text        NOT NULL,
    reason      text,
    changed_by  text        NOT NULL,
    changed_at  timestamptz NOT NULL
);
CREATE INDEX agent_status_history_agent_idx ON execlave.agent_status_history (agent_id, changed_at);
COMMENT ON TABLE execlave.agent_status_history IS 'Append-only history of agent status changes (registration, pause, resume, direct updates)';
SELECT pg_catalog.pg_extension_config_dump('execlave.agent_status_history', '');
SELECT pg_catalog.pg_extension_config_dump('execlave.agent_status_history_id_seq', '');

-------------------------------------------------------------------------------
-- Events: what execlave raises, for LISTEN/NOTIFY and the webhook outbox
-------------------------------------------------------------------------------
CREATE TABLE execlave.events (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_type  text        NOT NULL,
    agent_id    uuid,
    data        jsonb       NOT NULL,
    xact_id     xid8        NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT events_type_check CHECK (event_type IN
        ('policy.violated', 'agent.paused', 'agent.resumed', 'trace.anomaly', 'cost.threshold',
         'webhook.test')),
    CONSTRAINT events_data_check CHECK (pg_catalog.jsonb_typeof(data) = 'object')
);
CREATE INDEX events_created_idx ON execlave.events (created_at);
CREATE INDEX events_agent_idx ON execlave.events (agent_id, created_at);
COMMENT ON TABLE execlave.events IS 'Append-only log of events execlave raises, written in the transaction that caused them';
COMMENT ON COLUMN execlave.events.xact_id IS 'Transaction that wrote the event (lets a consumer tell commit order from id order)';
SELECT pg_catalog.pg_extension_config_dump('execlave.events', '');
SELECT pg_catalog.pg_extension_config_dump('execlave.events_id_seq', '');

-- Who acts: the database role, or, in an HTTP API request, the API key
-- (execlave.api_actor, a superuser-only setting execlave_api.pre_request()
-- sets for the request).
CREATE FUNCTION execlave.actor() RETURNS text
LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'execlave_actor';
COMMENT ON FUNCTION execlave.actor() IS 'The acting role recorded in stamps and histories: api:<key name> in an HTTP API request, else current_user';

-- Refuse UPDATE and DELETE on append-only tables (TRUNCATE stays an owner's tool).
CREATE FUNCTION execlave.forbid_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- execlave_maintenance() purges past retention (a superuser-only setting, set for its transaction)
    IF TG_OP = 'DELETE' AND pg_catalog.current_setting('execlave.maintenance_in_progress', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'table %.% is append-only', TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = 'Rows are kept as an audit record; old rows are removed by maintenance only.';
END
$$;
COMMENT ON FUNCTION execlave.forbid_change() IS 'Trigger: makes a table append-only';

CREATE TRIGGER agent_status_history_append_only
    BEFORE UPDATE OR DELETE ON execlave.agent_status_history
    FOR EACH ROW EXECUTE FUNCTION execlave.forbid_change();
CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON execlave.events
    FOR EACH ROW EXECUTE FUNCTION execlave.forbid_change();

-- The single emit function every event goes through.
CREATE FUNCTION execlave.emit_event(event_type text, agent_id uuid, data jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_id bigint;
BEGIN
    INSERT INTO execlave.events (event_type, agent_id, data)
    VALUES (event_type, agent_id, data)
    RETURNING id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION execlave.emit_event(text, uuid, jsonb) IS 'Append one event to execlave.events in the current transaction; the one way events are raised';
REVOKE ALL ON FUNCTION execlave.emit_event(text, uuid, jsonb) FROM PUBLIC;

-------------------------------------------------------------------------------
-- Agent triggers: cache invalidation, status bookkeeping, history, events
-------------------------------------------------------------------------------
CREATE FUNCTION execlave.invalidate_cache() RETURNS trigger
LANGUAGE C AS 'MODULE_PATHNAME', 'execlave_invalidate_cache';
COMMENT ON FUNCTION execlave.invalidate_cache() IS 'Statement trigger: invalidates every backend''s cache of the table (agents, grants) when it changes';

CREATE TRIGGER agents_invalidate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON execlave.agents
    FOR EACH STATEMENT EXECUTE FUNCTION execlave.invalidate_cache();

-- BEFORE trigger (runs as the caller, so it can record who): keeps the
-- pause columns and the status-change stamps consistent for every write,
-- including plain UPDATEs by a DBA.
CREATE FUNCTION execlave.agents_before_write() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.updated_at := now();
    IF TG_OP = 'INSERT' THEN
        NEW.created_at := now();
        NEW.status_changed_at := now();
        NEW.status_changed_by := execlave.actor();
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        NEW.status_changed_at := now();
        NEW.status_changed_by := execlave.actor();
    ELSE
        -- the stamps belong to the last status change
        NEW.status_changed_at := OLD.status_changed_at;
        NEW.status_changed_by := OLD.status_changed_by;
    END IF;
    IF NEW.status = 'paused' THEN
        IF TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'paused' THEN
            NEW.paused_at := now();
            NEW.paused_by := execlave.actor();
        ELSE
            NEW.paused_at := OLD.paused_at;
            NEW.paused_by := OLD.paused_by;
        END IF;
    ELSE
        NEW.paused_at := NULL;
        NEW.paused_by := NULL;
        NEW.pause_reason := NULL;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION execlave.agents_before_write() IS 'Trigger: stamps status changes and pause columns with the acting role';

CREATE TRIGGER agents_before_write
    BEFORE INSERT OR UPDATE ON execlave.agents
    FOR EACH ROW EXECUTE FUNCTION execlave.agents_before_write();

-- AFTER trigger: history row, event and NOTIFY for every status change.
CREATE FUNCTION execlave.agents_after_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    old_status text := CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END;
    payload jsonb;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NULL;
    END IF;

    INSERT INTO execlave.agent_status_history
        (agent_id, agent_key, old_status, new_status, reason, changed_by, changed_at)
    VALUES (NEW.id, NEW.key, old_status, NEW.status, NEW.pause_reason,
            NEW.status_changed_by, NEW.status_changed_at);

    IF TG_OP = 'INSERT' THEN
        RETURN NULL;
    END IF;

    payload := jsonb_build_object(
        'agent_id', NEW.id,
        'agent_key', NEW.key,
        'status', NEW.status,
        'previous_status', old_status,
        'reason', NEW.pause_reason,
        'changed_by', NEW.status_changed_by,
        'changed_at', NEW.status_changed_at);

    IF NEW.status = 'paused' THEN
        PERFORM execlave.emit_event('agent.paused', NEW.id, payload);
    ELSIF old_status = 'paused' THEN
        PERFORM execlave.emit_event('agent.resumed', NEW.id, payload);
    END IF;

    PERFORM pg_notify('execlave_agent_status', payload::text);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave.agents_after_write() IS 'Trigger: appends status history, emits agent.paused / agent.resumed and sends NOTIFY execlave_agent_status';

CREATE TRIGGER agents_after_write
    AFTER INSERT OR UPDATE ON execlave.agents
    FOR EACH ROW EXECUTE FUNCTION execlave.agents_after_write();

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

-------------------------------------------------------------------------------
-- Agent-to-agent grants
-------------------------------------------------------------------------------
CREATE FUNCTION execlave.canonical_actions(actions text[]) RETURNS text[]
LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_canonical_actions';
COMMENT ON FUNCTION execlave.canonical_actions(text[]) IS 'Validate a list of actions (22023 for unknown or repeated names, listing the valid ones; 22004 for NULLs) and return it in canonical order';

CREATE FUNCTION execlave.actions_valid(actions text[]) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_actions_valid';
COMMENT ON FUNCTION execlave.actions_valid(text[]) IS 'True for a non-empty list of distinct valid actions (the CHECK of execlave.grants)';

CREATE TABLE execlave.grants (
    id          uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    source_id   uuid        NOT NULL REFERENCES execlave.agents (id),
    target_id   uuid        NOT NULL REFERENCES execlave.agents (id),
    actions     text[]      NOT NULL,
    expires_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by  text        NOT NULL DEFAULT CURRENT_USER,
    revoked_at  timestamptz,
    revoked_by  text,
    replaces    uuid,
    CONSTRAINT grants_pkey PRIMARY KEY (id),
    CONSTRAINT grants_replaces_fkey FOREIGN KEY (replaces) REFERENCES execlave.grants (id),
    CONSTRAINT grants_actions_check CHECK (execlave.actions_valid(actions)),
    CONSTRAINT grants_revoked_check CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
CREATE INDEX grants_pair_idx ON execlave.grants (source_id, target_id);
CREATE INDEX grants_target_idx ON execlave.grants (target_id);
COMMENT ON TABLE execlave.grants IS 'Agent-to-agent access grants: source may perform actions on target until expires_at, unless revoked. Live grants of one pair are merged';
COMMENT ON COLUMN execlave.grants.actions IS 'Allowed actions, distinct, in canonical order: execute, read, write, delete, invoke, query, subscribe, delegate';
COMMENT ON COLUMN execlave.grants.expires_at IS 'The grant allows nothing from this instant on (NULL: never expires)';
COMMENT ON COLUMN execlave.grants.replaces IS 'For a grant re-issued by a partial revoke: the grant it replaces';
SELECT pg_catalog.pg_extension_config_dump('execlave.grants', '');

CREATE TABLE execlave.grant_history (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    grant_id    uuid        NOT NULL,
    operation   text        NOT NULL CHECK (operation IN ('grant', 'revoke')),
    source_id   uuid        NOT NULL,
    target_id   uuid        NOT NULL,
    actions     text[]      NOT NULL,
    expires_at  timestamptz,
    actor       text        NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX grant_history_grant_idx ON execlave.grant_history (grant_id);
COMMENT ON TABLE execlave.grant_history IS 'Append-only change history of grants: every grant and revoke, with who and when';
SELECT pg_catalog.pg_extension_config_dump('execlave.grant_history', '');
SELECT pg_catalog.pg_extension_config_dump('execlave.grant_history_id_seq', '');

CREATE TRIGGER grant_history_append_only
    BEFORE UPDATE OR DELETE ON execlave.grant_history
    FOR EACH ROW EXECUTE FUNCTION execlave.forbid_change();

CREATE TRIGGER grants_invalidate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON execlave.grants
    FOR EACH STATEMENT EXECUTE FUNCTION execlave.invalidate_cache();

-- BEFORE trigger (runs as the caller): grants are immutable but for being
-- revoked once; stamps who and when.
CREATE FUNCTION execlave.grants_before_write() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.actions := execlave.canonical_actions(NEW.actions);
        IF NEW.expires_at <= clock_timestamp() THEN
            RAISE EXCEPTION 'expires_at must be in the future'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('expires_at is %s; the time is now %s.', NEW.expires_at, clock_timestamp()),
                      HINT = 'Pass a future timestamptz, or NULL for a grant that never expires.';
        END IF;
        NEW.created_at := now();
        NEW.created_by := execlave.actor();
        NEW.revoked_at := NULL;
        NEW.revoked_by := NULL;
        RETURN NEW;
    END IF;
    IF (NEW.id, NEW.source_id, NEW.target_id, NEW.actions, NEW.expires_at, NEW.created_at,
        NEW.created_by, NEW.replaces)
       IS DISTINCT FROM
       (OLD.id, OLD.source_id, OLD.target_id, OLD.actions, OLD.expires_at, OLD.created_at,
        OLD.created_by, OLD.replaces)
       OR (OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at) THEN
        RAISE EXCEPTION 'grants cannot be changed, only revoked once'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Revoke the grant with execlave_revoke() and grant anew.';
    END IF;
    IF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN
        NEW.revoked_at := now();
        NEW.revoked_by := execlave.actor();
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION execlave.grants_before_write() IS 'Trigger: validates and canonicalises actions, refuses past expiries, stamps creation and revocation with the acting role, refuses any other change';

CREATE TRIGGER grants_before_write
    BEFORE INSERT OR UPDATE ON execlave.grants
    FOR EACH ROW EXECUTE FUNCTION execlave.grants_before_write();

-- AFTER trigger: the change history.
CREATE FUNCTION execlave.grants_after_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO execlave.grant_history
            (grant_id, operation, source_id, target_id, actions, expires_at, actor, at)
        VALUES (NEW.id, 'grant', NEW.source_id, NEW.target_id, NEW.actions, NEW.expires_at,
                NEW.created_by, NEW.created_at);
    ELSIF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN
        INSERT INTO execlave.grant_history
            (grant_id, operation, source_id, target_id, actions, expires_at, actor, at)
        VALUES (NEW.id, 'revoke', NEW.source_id, NEW.target_id, NEW.actions, NEW.expires_at,
                NEW.revoked_by, NEW.revoked_at);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave.grants_after_write() IS 'Trigger: appends every grant and revoke to execlave.grant_history';

CREATE TRIGGER grants_after_write
    AFTER INSERT OR UPDATE ON execlave.grants
    FOR EACH ROW EXECUTE FUNCTION execlave.grants_after_write();

CREATE FUNCTION execlave_grant(source text, target text, actions text[],
                               expires_at timestamptz DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    src uuid;
    tgt uuid;
    canonical text[];
    new_id uuid;
BEGIN
    PERFORM execlave.check_not_null(source, 'source');
    PERFORM execlave.check_not_null(target, 'target');
    canonical := execlave.canonical_actions(actions);
    src := execlave.resolve_agent(source);
    tgt := execlave.resolve_agent(target);

    INSERT INTO execlave.grants (source_id, target_id, actions, expires_at)
    VALUES (src, tgt, canonical, execlave_grant.expires_at)
    RETURNING id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION execlave_grant(text, text, text[], timestamptz) IS 'Allow source to perform actions on target (agents by key or UUID) until expires_at (NULL: no expiry). Returns the grant id. Grants of one pair are merged';

CREATE FUNCTION execlave_revoke(grant_id uuid) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    was_revoked timestamptz;
BEGIN
    PERFORM execlave.check_not_null(grant_id, 'grant_id');
    SELECT g.revoked_at INTO was_revoked FROM execlave.grants g WHERE g.id = grant_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'grant % does not exist', grant_id USING ERRCODE = 'EX005';
    END IF;
    IF was_revoked IS NOT NULL THEN
        RETURN false;           -- already revoked
    END IF;
    UPDATE execlave.grants g SET revoked_at = now() WHERE g.id = grant_id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION execlave_revoke(uuid) IS 'Revoke one grant by id. Returns false if it was already revoked; EX005 if there is no such grant';

CREATE FUNCTION execlave_revoke(source text, target text, actions text[] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    src uuid;
    tgt uuid;
    revoking text[];
    g record;
    remaining text[];
    n integer := 0;
BEGIN
    PERFORM execlave.check_not_null(source, 'source');
    PERFORM execlave.check_not_null(target, 'target');
    IF actions IS NOT NULL THEN
        revoking := execlave.canonical_actions(actions);
    END IF;
    src := execlave.resolve_agent(source);
    tgt := execlave.resolve_agent(target);

    FOR g IN
        SELECT * FROM execlave.grants gr
        WHERE gr.source_id = src AND gr.target_id = tgt
          AND gr.revoked_at IS NULL
          AND (gr.expires_at IS NULL OR gr.expires_at > clock_timestamp())
          AND (revoking IS NULL OR gr.actions && revoking)
        ORDER BY gr.created_at
        FOR NO KEY UPDATE
    LOOP
        UPDATE execlave.grants gr SET revoked_at = now() WHERE gr.id = g.id;
        n := n + 1;
        IF revoking IS NOT NULL THEN
            SELECT array_agg(a) INTO remaining FROM unnest(g.actions) a WHERE a <> ALL (revoking);
            IF remaining IS NOT NULL THEN
                -- the rest of the grant stays in force, under a new id
                INSERT INTO execlave.grants (source_id, target_id, actions, expires_at, replaces)
                VALUES (g.source_id, g.target_id, remaining, g.expires_at, g.id);
            END IF;
        END IF;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION execlave_revoke(text, text, text[]) IS 'Revoke the live grants from source to target (all actions, or only those listed; the rest of a partly revoked grant is re-issued as a new grant with the same expiry). Returns the number of grants revoked';

CREATE FUNCTION execlave_authorize(source text, target text, action text) RETURNS boolean
LANGUAGE C VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_authorize';
COMMENT ON FUNCTION execlave_authorize(text, text, text) IS 'May source perform action on target now? True only if both agents exist, neither is paused or archived, and a live grant (not revoked, expiry after the current clock) covers the action. Read-only, no query once warm';

CREATE FUNCTION execlave_authorize_explain(source text, target text, action text,
    OUT authorized boolean, OUT reason text, OUT grant_id uuid, OUT expires_at timestamptz)
RETURNS record
LANGUAGE C VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_authorize_explain';
COMMENT ON FUNCTION execlave_authorize_explain(text, text, text) IS 'execlave_authorize with its reason: granted, no_grant, action_not_granted, expired, revoked, source_paused, target_paused, source_archived, target_archived, unknown_source, unknown_target; and the grant concerned';

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

-------------------------------------------------------------------------------
-- Policies: rules evaluated on every trace and by execlave_enforce()
-------------------------------------------------------------------------------
CREATE TABLE execlave.policies (
    id          uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    name        text        COLLATE "C" NOT NULL,
    type        text        NOT NULL,
    mode        text        NOT NULL,
    config      jsonb       NOT NULL DEFAULT '{}',
    agent_ids   uuid[],
    active      boolean     NOT NULL DEFAULT true,
    metadata    jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by  text        NOT NULL DEFAULT CURRENT_USER,
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_by  text        NOT NULL DEFAULT CURRENT_USER,
    CONSTRAINT policies_pkey PRIMARY KEY (id),
    CONSTRAINT policies_name_key UNIQUE (name),
    CONSTRAINT policies_name_check CHECK (
        octet_length(name) BETWEEN 1 AND 200
        AND name !~ '[[:cntrl:]]'
        AND name !~ '^.{8}-.{4}-.{4}-.{4}-.{12}$'),
    CONSTRAINT policies_type_check CHECK (type IN
        ('prompt_injection', 'pii_detection', 'model_allowlist', 'token_limit', 'tool_access',
         'rate_limit', 'cost_limit', 'budget_cap')),
    CONSTRAINT policies_mode_check CHECK (mode IN ('log', 'flag', 'block')),
    CONSTRAINT policies_config_check CHECK (pg_catalog.jsonb_typeof(config) = 'object'),
    CONSTRAINT policies_agents_check CHECK (pg_catalog.cardinality(agent_ids) > 0),
    CONSTRAINT policies_metadata_check CHECK (pg_catalog.jsonb_typeof(metadata) = 'object')
);
COMMENT ON TABLE execlave.policies IS 'Policies: a type (what is checked), a mode (log | flag | block), a validated config and the agents it applies to';
COMMENT ON COLUMN execlave.policies.name IS 'Unique name: 1 to 200 bytes, no control characters, not in the layout of a UUID';
COMMENT ON COLUMN execlave.policies.type IS 'prompt_injection | pii_detection | model_allowlist | token_limit | tool_access';
COMMENT ON COLUMN execlave.policies.mode IS 'log: record; flag: record, mark the trace flagged_for_review, emit policy.violated; block: refuse (EX003)';
COMMENT ON COLUMN execlave.policies.config IS 'Type-specific settings, validated on every write (see README, "Policy types")';
COMMENT ON COLUMN execlave.policies.agent_ids IS 'Agents the policy applies to (sorted, distinct); NULL: every agent';
COMMENT ON COLUMN execlave.policies.active IS 'Inactive policies are kept but never evaluated';
SELECT pg_catalog.pg_extension_config_dump('execlave.policies', '');

-- Validates type, mode and config (the same C code the evaluator compiles
-- with), normalizes agent_ids and stamps the row, for every write.
CREATE FUNCTION execlave.policies_before_write() RETURNS trigger
LANGUAGE C AS 'MODULE_PATHNAME', 'execlave_policies_before_write';
COMMENT ON FUNCTION execlave.policies_before_write() IS 'Trigger: validates a policy''s type, mode, config and agents; stamps updated_at/updated_by';

CREATE TRIGGER policies_before_write
    BEFORE INSERT OR UPDATE ON execlave.policies
    FOR EACH ROW EXECUTE FUNCTION execlave.policies_before_write();
CREATE TRIGGER policies_invalidate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON execlave.policies
    FOR EACH STATEMENT EXECUTE FUNCTION execlave.invalidate_cache();

CREATE FUNCTION execlave.validate_policy(type text, config jsonb) RETURNS void
LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'execlave_validate_policy';
COMMENT ON FUNCTION execlave.validate_policy(text, jsonb) IS 'Check a policy config for a type without storing it: returns quietly, or raises 22023 naming the bad key';

CREATE FUNCTION execlave.resolve_policy(policy text) RETURNS uuid
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    found_id uuid;
BEGIN
    PERFORM execlave.check_not_null(policy, 'policy');
    IF policy ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        SELECT p.id INTO found_id FROM execlave.policies p WHERE p.id = policy::uuid;
    ELSE
        SELECT p.id INTO found_id FROM execlave.policies p WHERE p.name = policy;
    END IF;
    IF found_id IS NULL THEN
        RAISE EXCEPTION 'policy "%" does not exist', policy
            USING ERRCODE = 'EX006', HINT = 'Name a policy by its name or id; see execlave.policies.';
    END IF;
    RETURN found_id;
END
$$;
COMMENT ON FUNCTION execlave.resolve_policy(text) IS 'UUID of the policy named by name or UUID; raises EX006 when unknown';

CREATE FUNCTION execlave.resolve_agents(agents text[]) RETURNS uuid[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF agents IS NULL OR cardinality(agents) = 0 THEN
        RETURN NULL;            -- every agent
    END IF;
    IF array_position(agents, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'agents must not contain NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN ARRAY(SELECT DISTINCT execlave.resolve_agent(a) FROM unnest(agents) AS a ORDER BY 1);
END
$$;
COMMENT ON FUNCTION execlave.resolve_agents(text[]) IS 'Agent keys or UUIDs to a sorted array of UUIDs; NULL or empty means every agent (NULL)';

CREATE FUNCTION execlave_create_policy(name text, type text, mode text, config jsonb DEFAULT '{}',
                                       agents text[] DEFAULT NULL, metadata jsonb DEFAULT '{}')
RETURNS uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_id uuid;
BEGIN
    PERFORM execlave.check_not_null(name, 'name');
    PERFORM execlave.check_not_null(type, 'type');
    PERFORM execlave.check_not_null(mode, 'mode');
    PERFORM execlave.check_not_null(config, 'config');
    PERFORM execlave.check_not_null(metadata, 'metadata');
    IF EXISTS (SELECT 1 FROM execlave.policies p WHERE p.name = execlave_create_policy.name) THEN
        RAISE EXCEPTION 'policy "%" already exists', name
            USING ERRCODE = 'unique_violation',
                  HINT = 'Change it with execlave_update_policy(), or choose another name.';
    END IF;
    INSERT INTO execlave.policies (name, type, mode, config, agent_ids, metadata)
    VALUES (name, type, mode, config, execlave.resolve_agents(agents), metadata)
    RETURNING id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION execlave_create_policy(text, text, text, jsonb, text[], jsonb) IS 'Create an active policy; agents (keys or UUIDs) NULL or empty = every agent. Returns its id. The config is validated per type (22023 naming the key)';

CREATE FUNCTION execlave_update_policy(policy text, mode text DEFAULT NULL, config jsonb DEFAULT NULL,
                                       agents text[] DEFAULT NULL, name text DEFAULT NULL,
                                       metadata jsonb DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    pid uuid := execlave.resolve_policy(policy);
BEGIN
    UPDATE execlave.policies p
    SET mode = coalesce(execlave_update_policy.mode, p.mode),
        config = coalesce(execlave_update_policy.config, p.config),
        agent_ids = CASE WHEN agents IS NULL THEN p.agent_ids
                         ELSE execlave.resolve_agents(agents) END,
        name = coalesce(execlave_update_policy.name, p.name),
        metadata = coalesce(execlave_update_policy.metadata, p.metadata)
    WHERE p.id = pid;
    RETURN pid;
END
$$;
COMMENT ON FUNCTION execlave_update_policy(text, text, jsonb, text[], text, jsonb) IS 'Change a policy (by name or id); NULL arguments keep the current value; agents = ''{}'' applies it to every agent';

CREATE FUNCTION execlave.set_policy_active(policy text, want boolean) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    pid uuid := execlave.resolve_policy(policy);
BEGIN
    UPDATE execlave.policies p SET active = want WHERE p.id = pid AND p.active <> want;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION execlave.set_policy_active(text, boolean) IS 'Enable or disable a policy; true when the flag changed';

CREATE FUNCTION execlave_enable_policy(policy text) RETURNS boolean
LANGUAGE sql SET search_path = pg_catalog, pg_temp
RETURN execlave.set_policy_active(policy, true);
COMMENT ON FUNCTION execlave_enable_policy(text) IS 'Enable a policy (by name or id); false if it was already active';

CREATE FUNCTION execlave_disable_policy(policy text) RETURNS boolean
LANGUAGE sql SET search_path = pg_catalog, pg_temp
RETURN execlave.set_policy_active(policy, false);
COMMENT ON FUNCTION execlave_disable_policy(text) IS 'Disable a policy (by name or id) without deleting it; false if it was already inactive';

CREATE FUNCTION execlave_drop_policy(policy text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM execlave.policies p WHERE p.id = execlave.resolve_policy(policy);
END
$$;
COMMENT ON FUNCTION execlave_drop_policy(text) IS 'Delete a policy (by name or id); its violations stay, with its id and name';

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

-------------------------------------------------------------------------------
-- Webhooks: endpoints, and the delivery outbox drained by the webhook worker
-------------------------------------------------------------------------------
CREATE FUNCTION execlave.check_webhook_url(url text) RETURNS text
LANGUAGE C STRICT IMMUTABLE AS 'MODULE_PATHNAME', 'execlave_check_webhook_url';
COMMENT ON FUNCTION execlave.check_webhook_url(text) IS 'Validate a webhook URL (http or https, with a host, at most 2048 bytes); returns it normalized, or raises 22023';

CREATE FUNCTION execlave.new_webhook_secret() RETURNS text
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'execlave_new_webhook_secret';
COMMENT ON FUNCTION execlave.new_webhook_secret() IS 'A new Standard Webhooks signing secret: whsec_ followed by base64 of 32 random bytes';

CREATE FUNCTION execlave.check_webhook_secret(secret text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    key bytea;
BEGIN
    IF secret !~ '^whsec_[A-Za-z0-9+/]+={0,2}$' THEN
        RAISE EXCEPTION 'invalid webhook secret'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A secret is whsec_ followed by the base64 encoding of 24 to 64 random bytes; omit it to have one generated.';
    END IF;
    BEGIN
        key := decode(substr(secret, 7), 'base64');
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION 'invalid webhook secret: the part after whsec_ is not valid base64'
            USING ERRCODE = 'invalid_parameter_value';
    END;
    IF octet_length(key) NOT BETWEEN 24 AND 64 THEN
        RAISE EXCEPTION 'invalid webhook secret: its key is % bytes long', octet_length(key)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The base64 part must decode to 24 to 64 bytes.';
    END IF;
END
$$;
COMMENT ON FUNCTION execlave.check_webhook_secret(text) IS 'Raise 22023 unless secret is whsec_ + base64 of 24 to 64 bytes';

CREATE TABLE execlave.webhooks (
    id              uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    url             text        NOT NULL,
    events          text[],
    secret          text        NOT NULL DEFAULT execlave.new_webhook_secret(),
    active          boolean     NOT NULL DEFAULT true,
    description     text,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by      text        NOT NULL DEFAULT CURRENT_USER,
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    disabled_at     timestamptz,
    disabled_reason text,
    CONSTRAINT webhooks_pkey PRIMARY KEY (id),
    CONSTRAINT webhooks_events_check CHECK (
        pg_catalog.cardinality(events) > 0
        AND events <@ ARRAY['policy.violated', 'agent.paused', 'agent.resumed', 'trace.anomaly', 'cost.threshold']),
    CONSTRAINT webhooks_disabled_check CHECK (active = (disabled_at IS NULL)),
    CONSTRAINT webhooks_description_check CHECK (octet_length(description) <= 2000),
    CONSTRAINT webhooks_reason_check CHECK (octet_length(disabled_reason) <= 2000)
);
COMMENT ON TABLE execlave.webhooks IS 'Webhook endpoints: URL, subscribed event types, Standard Webhooks signing secret (execlave_admin only), active flag';
COMMENT ON COLUMN execlave.webhooks.events IS 'Event types delivered to the endpoint; NULL: every type';
COMMENT ON COLUMN execlave.webhooks.secret IS 'Signing secret (whsec_ + base64 key); readable by execlave_admin only';
COMMENT ON COLUMN execlave.webhooks.disabled_reason IS 'Why the endpoint was disabled (by a role, or automatically on 410 Gone)';
SELECT pg_catalog.pg_extension_config_dump('execlave.webhooks', '');

CREATE FUNCTION execlave.webhooks_before_write() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.url := execlave.check_webhook_url(NEW.url);
    PERFORM execlave.check_webhook_secret(NEW.secret);
    IF NEW.events IS NOT NULL THEN
        IF array_position(NEW.events, NULL) IS NOT NULL THEN
            RAISE EXCEPTION 'events must not contain NULL' USING ERRCODE = 'null_value_not_allowed';
        END IF;
        IF NOT NEW.events <@ ARRAY['policy.violated', 'agent.paused', 'agent.resumed', 'trace.anomaly', 'cost.threshold'] THEN
            RAISE EXCEPTION 'unknown event type(s): %', array_to_string(ARRAY(
                    SELECT e FROM unnest(NEW.events) e
                    WHERE e <> ALL (ARRAY['policy.violated', 'agent.paused', 'agent.resumed', 'trace.anomaly', 'cost.threshold'])), ', ')
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Valid events: policy.violated, agent.paused, agent.resumed, trace.anomaly, cost.threshold (NULL or ''{*}'': all).';
        END IF;
        IF cardinality(NEW.events) = 0 THEN
            RAISE EXCEPTION 'events must not be empty'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Name at least one event type, or pass NULL (or ''{*}'') for all of them.';
        END IF;
        NEW.events := ARRAY(SELECT DISTINCT e FROM unnest(NEW.events) e ORDER BY 1);
    END IF;
    NEW.updated_at := now();
    IF TG_OP = 'INSERT' THEN
        NEW.created_at := now();
        NEW.created_by := execlave.actor();
    END IF;
    IF NEW.active AND (TG_OP = 'INSERT' OR NOT OLD.active) THEN
        NEW.disabled_at := NULL;
        NEW.disabled_reason := NULL;
    ELSIF NOT NEW.active AND (TG_OP = 'INSERT' OR OLD.active) THEN
        NEW.disabled_at := now();
        NEW.disabled_reason := coalesce(NEW.disabled_reason, 'disabled by ' || execlave.actor());
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION execlave.webhooks_before_write() IS 'Trigger: validates URL, secret and events; keeps disabled_at/disabled_reason consistent with active';

CREATE TRIGGER webhooks_before_write
    BEFORE INSERT OR UPDATE ON execlave.webhooks
    FOR EACH ROW EXECUTE FUNCTION execlave.webhooks_before_write();

CREATE TABLE execlave.deliveries (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id       uuid        NOT NULL REFERENCES execlave.webhooks (id) ON DELETE CASCADE,
    event_id         bigint      NOT NULL,
    event_type       text        NOT NULL,
    status           text        NOT NULL DEFAULT 'pending',
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    last_latency_ms  double precision,
    created_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    delivered_at     timestamptz,
    CONSTRAINT deliveries_status_check CHECK (status IN ('pending', 'delivering', 'retrying', 'succeeded', 'dead')),
    CONSTRAINT deliveries_event_webhook_key UNIQUE (event_id, webhook_id)
);
CREATE INDEX deliveries_due_idx ON execlave.deliveries (next_attempt_at)
    WHERE status IN ('pending', 'delivering', 'retrying');
CREATE INDEX deliveries_webhook_idx ON execlave.deliveries (webhook_id, created_at);
COMMENT ON TABLE execlave.deliveries IS 'Webhook outbox: one row per event and subscribed endpoint, written in the event''s transaction; drained by the webhook worker';
COMMENT ON COLUMN execlave.deliveries.status IS 'pending | delivering (leased until next_attempt_at) | retrying | succeeded | dead (attempts exhausted, 410, or redeliver to queue again)';
COMMENT ON COLUMN execlave.deliveries.next_attempt_at IS 'When the delivery is due; while delivering, when its lease expires and it may be claimed again';
COMMENT ON COLUMN execlave.deliveries.attempts IS 'Attempts made (since the last execlave_redeliver)';
SELECT pg_catalog.pg_extension_config_dump('execlave.deliveries', '');
SELECT pg_catalog.pg_extension_config_dump('execlave.deliveries_id_seq', '');

-- Fan-out in the event's own transaction: one delivery per subscribed active
-- endpoint.  Because it runs where the event is written, no event can be
-- skipped whatever order transactions commit in.
CREATE FUNCTION execlave.events_fan_out() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.event_type = 'webhook.test' THEN
        INSERT INTO execlave.deliveries (webhook_id, event_id, event_type)
        SELECT w.id, NEW.id, NEW.event_type FROM execlave.webhooks w
        WHERE w.id = (NEW.data->>'webhook_id')::uuid;
    ELSE
        INSERT INTO execlave.deliveries (webhook_id, event_id, event_type)
        SELECT w.id, NEW.id, NEW.event_type FROM execlave.webhooks w
        WHERE w.active AND (w.events IS NULL OR NEW.event_type = ANY (w.events));
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave.events_fan_out() IS 'Trigger: creates the deliveries of a new event, in its transaction';

CREATE TRIGGER events_fan_out
    AFTER INSERT ON execlave.events
    FOR EACH ROW EXECUTE FUNCTION execlave.events_fan_out();

CREATE FUNCTION execlave.wake_webhook_worker() RETURNS trigger
LANGUAGE C AS 'MODULE_PATHNAME', 'execlave_wake_webhook_worker';
COMMENT ON FUNCTION execlave.wake_webhook_worker() IS 'Statement trigger: wake the webhook worker when this transaction commits';

CREATE TRIGGER deliveries_wake
    AFTER INSERT OR UPDATE ON execlave.deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION execlave.wake_webhook_worker();

CREATE VIEW execlave.webhook_health AS
SELECT w.id AS webhook_id, w.url, w.active, w.disabled_at, w.disabled_reason,
       count(*) FILTER (WHERE d.status IN ('pending', 'delivering')) AS pending,
       count(*) FILTER (WHERE d.status = 'retrying') AS retrying,
       count(*) FILTER (WHERE d.status = 'dead') AS dead,
       count(*) FILTER (WHERE d.status = 'succeeded') AS succeeded,
       max(d.delivered_at) AS last_success_at,
       (SELECT d2.last_error FROM execlave.deliveries d2
        WHERE d2.webhook_id = w.id AND d2.last_error IS NOT NULL
        ORDER BY d2.last_attempt_at DESC NULLS LAST LIMIT 1) AS last_error,
       max(d.last_attempt_at) FILTER (WHERE d.last_error IS NOT NULL) AS last_error_at,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY d.last_latency_ms)
              FILTER (WHERE d.last_attempt_at > pg_catalog.now() - interval '1 hour'))::numeric, 1) AS p50_latency_ms_1h,
       round((percentile_cont(0.99) WITHIN GROUP (ORDER BY d.last_latency_ms)
              FILTER (WHERE d.last_attempt_at > pg_catalog.now() - interval '1 hour'))::numeric, 1) AS p99_latency_ms_1h
FROM execlave.webhooks w
LEFT JOIN execlave.deliveries d ON d.webhook_id = w.id
GROUP BY w.id;
COMMENT ON VIEW execlave.webhook_health IS 'Per endpoint: deliveries pending, retrying, dead and succeeded; last success; last error; latency over the last hour';

CREATE FUNCTION execlave.webhook_worker_status() RETURNS text
LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'execlave_webhook_worker_status';
COMMENT ON FUNCTION execlave.webhook_worker_status() IS 'Whether the webhook worker runs, and for this database';

CREATE FUNCTION execlave_create_webhook(url text, events text[] DEFAULT NULL, secret text DEFAULT NULL,
                                        description text DEFAULT NULL)
RETURNS TABLE (id uuid, signing_secret text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM execlave.check_not_null(url, 'url');
    IF events IS NOT NULL AND events = ARRAY['*'] THEN
        events := NULL;
    END IF;
    RETURN QUERY
    INSERT INTO execlave.webhooks AS w (url, events, secret, description)
    VALUES (url, events, coalesce(secret, execlave.new_webhook_secret()), description)
    RETURNING w.id, w.secret;
    IF execlave.webhook_worker_status() !~ '^running \(pid [0-9]+\)$' THEN
        RAISE WARNING 'deliveries to this endpoint are queued, but no webhook worker sends them for this database'
            USING DETAIL = 'webhook worker: ' || regexp_replace(execlave.webhook_worker_status(), ' \(pid [0-9]+\)', ''),
                  HINT = 'Preload execlave (shared_preload_libraries) and set execlave.database to this database, then restart.';
    END IF;
END
$$;
COMMENT ON FUNCTION execlave_create_webhook(text, text[], text, text) IS 'Register a webhook endpoint for events (NULL or {*}: all types); returns its id and signing_secret (generated when not given; shown here and to execlave_admin only)';

CREATE FUNCTION execlave.check_webhook(webhook uuid) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM execlave.check_not_null(webhook, 'webhook');
    IF NOT EXISTS (SELECT 1 FROM execlave.webhooks w WHERE w.id = webhook) THEN
        RAISE EXCEPTION 'webhook % does not exist', webhook USING ERRCODE = 'EX007';
    END IF;
END
$$;
COMMENT ON FUNCTION execlave.check_webhook(uuid) IS 'Raise EX007 unless the webhook exists';

CREATE FUNCTION execlave_list_webhooks()
RETURNS TABLE (id uuid, url text, events text[], active boolean, description text,
               created_at timestamptz, disabled_at timestamptz, disabled_reason text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT w.id, w.url, w.events, w.active, w.description, w.created_at, w.disabled_at, w.disabled_reason
    FROM execlave.webhooks w ORDER BY w.created_at, w.id
$$;
COMMENT ON FUNCTION execlave_list_webhooks() IS 'Every webhook endpoint, without its secret';

CREATE FUNCTION execlave_update_webhook(webhook uuid, url text DEFAULT NULL, events text[] DEFAULT NULL,
                                        description text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM execlave.check_webhook(webhook);
    UPDATE execlave.webhooks w
    SET url = coalesce(execlave_update_webhook.url, w.url),
        events = CASE WHEN execlave_update_webhook.events IS NULL THEN w.events
                      WHEN execlave_update_webhook.events = ARRAY['*'] THEN NULL
                      ELSE execlave_update_webhook.events END,
        description = coalesce(execlave_update_webhook.description, w.description)
    WHERE w.id = webhook;
END
$$;
COMMENT ON FUNCTION execlave_update_webhook(uuid, text, text[], text) IS 'Change a webhook''s URL, events ({*}: all) or description; NULL keeps the current value';

CREATE FUNCTION execlave_disable_webhook(webhook uuid, reason text DEFAULT NULL) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM execlave.check_webhook(webhook);
    UPDATE execlave.webhooks w SET active = false,
        disabled_reason = coalesce(reason, 'disabled by ' || execlave.actor())
    WHERE w.id = webhook AND w.active;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION execlave_disable_webhook(uuid, text) IS 'Stop deliveries to an endpoint (pending ones wait); false if already disabled';

CREATE FUNCTION execlave_enable_webhook(webhook uuid) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM execlave.check_webhook(webhook);
    UPDATE execlave.webhooks w SET active = true WHERE w.id = webhook AND NOT w.active;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION execlave_enable_webhook(uuid) IS 'Resume deliveries to a disabled endpoint (its waiting deliveries go out); false if already active';

CREATE FUNCTION execlave_delete_webhook(webhook uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM execlave.check_webhook(webhook);
    DELETE FROM execlave.webhooks w WHERE w.id = webhook;
END
$$;
COMMENT ON FUNCTION execlave_delete_webhook(uuid) IS 'Delete an endpoint and its deliveries';

CREATE FUNCTION execlave_rotate_webhook_secret(webhook uuid, secret text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_secret text := coalesce(secret, execlave.new_webhook_secret());
BEGIN
    PERFORM execlave.check_webhook(webhook);
    UPDATE execlave.webhooks w SET secret = new_secret WHERE w.id = webhook;
    RETURN new_secret;
END
$$;
COMMENT ON FUNCTION execlave_rotate_webhook_secret(uuid, text) IS 'Replace an endpoint''s signing secret (generated when not given); returns it. Deliveries sent from now on use it';

CREATE FUNCTION execlave_test_webhook(webhook uuid) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    w execlave.webhooks;
BEGIN
    PERFORM execlave.check_webhook(webhook);
    SELECT * INTO w FROM execlave.webhooks x WHERE x.id = webhook;
    IF NOT w.active THEN
        RAISE EXCEPTION 'webhook % is disabled', webhook
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Enable it with execlave_enable_webhook().';
    END IF;
    RETURN execlave.emit_event('webhook.test', NULL, jsonb_build_object(
        'webhook_id', webhook, 'message', 'Test event from execlave', 'sent_by', execlave.actor()));
END
$$;
COMMENT ON FUNCTION execlave_test_webhook(uuid) IS 'Queue a webhook.test event for this endpoint only; returns the event id';

CREATE FUNCTION execlave_redeliver(delivery bigint) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st text;
BEGIN
    PERFORM execlave.check_not_null(delivery, 'delivery');
    SELECT d.status INTO st FROM execlave.deliveries d WHERE d.id = delivery FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'delivery % does not exist', delivery USING ERRCODE = 'EX008';
    END IF;
    IF st IN ('pending', 'delivering') THEN
        RETURN false;           -- already queued or in flight
    END IF;
    UPDATE execlave.deliveries d
    SET status = 'pending', attempts = 0, next_attempt_at = now()
    WHERE d.id = delivery;
    RETURN true;
END
$$;
COMMENT ON FUNCTION execlave_redeliver(bigint) IS 'Queue a delivery again (dead, retrying or succeeded) with a fresh attempt count; false if it is already pending or in flight';

-------------------------------------------------------------------------------
-- Maintenance: partitions of traces, retention, purges; pg_cron; DBA views
-------------------------------------------------------------------------------
CREATE FUNCTION execlave.maintenance_settings() RETURNS jsonb
LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'execlave_maintenance_settings';
COMMENT ON FUNCTION execlave.maintenance_settings() IS 'The settings execlave_maintenance() applies (execlave.trace_partition_interval, *_retention_days, ...)';

-- The partitions of execlave.traces with their bounds.
CREATE FUNCTION execlave.trace_partitions()
RETURNS TABLE (partition_name text, range_start timestamptz, range_end timestamptz, is_default boolean, rows_estimate bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.relname::text,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz,
           pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT',
           greatest(c.reltuples, 0)::bigint
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'execlave.traces'::regclass
    ORDER BY 2 NULLS FIRST
$$;
COMMENT ON FUNCTION execlave.trace_partitions() IS 'The partitions of execlave.traces: name, range (UTC bounds), whether it is the default partition, estimated rows';

-- Create the partition for [from_ts, to_ts) unless one exists, moving
-- the rows of that range out of the default partition first.  Returns the
-- rows moved, or NULL when it created nothing.
CREATE FUNCTION execlave.add_trace_partition(from_ts timestamptz, to_ts timestamptz, label text)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    part text := 'traces_p' || label;
    moved bigint;
BEGIN
    IF EXISTS (SELECT 1 FROM execlave.trace_partitions() p
               WHERE NOT p.is_default AND p.range_start < to_ts AND p.range_end > from_ts) THEN
        RETURN NULL;            -- (partly) covered already
    END IF;
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
    EXECUTE format('ALTER TABLE execlave.traces ATTACH PARTITION execlave.%I FOR VALUES FROM (%L) TO (%L)',
                   part, from_ts, to_ts);
    EXECUTE format('ALTER TABLE execlave.%I DROP CONSTRAINT %I', part, part || '_bound');
    RETURN moved;
END
$$;
COMMENT ON FUNCTION execlave.add_trace_partition(timestamptz, timestamptz, text) IS 'Internal (maintenance): create one partition of execlave.traces, moving its rows out of the default partition';

CREATE FUNCTION execlave_maintenance() RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cfg jsonb := execlave.maintenance_settings();
    monthly boolean := cfg->>'trace_partition_interval' = 'month';
    step interval := CASE WHEN cfg->>'trace_partition_interval' = 'month' THEN interval '1 month' ELSE interval '1 day' END;
    fmt text := CASE WHEN cfg->>'trace_partition_interval' = 'month' THEN 'YYYYMM' ELSE 'YYYYMMDD' END;
    t0 timestamptz := clock_timestamp();
    today timestamp := date_trunc(CASE WHEN cfg->>'trace_partition_interval' = 'month' THEN 'month' ELSE 'day' END,
                                  now() AT TIME ZONE 'UTC');
    created text[] := '{}';
    dropped text[] := '{}';
    moved bigint := 0;
    n bigint;
    p record;
    d timestamp;
    cutoff timestamptz;
    purged jsonb := '{}';
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('execlave_maintenance'), 0) THEN
        RETURN jsonb_build_object('skipped', 'another execlave_maintenance() is running in this database');
    END IF;
    PERFORM set_config('execlave.maintenance_in_progress', 'on', true);

    -- 1. rows in the default partition: into partitions of their own period
    --    (of a day when a partition of the other interval covers part of it)
    FOR d IN SELECT DISTINCT date_trunc(CASE WHEN monthly THEN 'month' ELSE 'day' END, started_at AT TIME ZONE 'UTC')
             FROM execlave.traces_default ORDER BY 1 LOOP
        n := execlave.add_trace_partition(d AT TIME ZONE 'UTC', (d + step) AT TIME ZONE 'UTC', to_char(d, fmt));
        IF n IS NULL AND monthly THEN
            FOR p IN SELECT DISTINCT date_trunc('day', t.started_at AT TIME ZONE 'UTC') AS day
                     FROM execlave.traces_default t
                     WHERE t.started_at >= d AT TIME ZONE 'UTC' AND t.started_at < (d + step) AT TIME ZONE 'UTC' LOOP
                n := execlave.add_trace_partition(p.day AT TIME ZONE 'UTC', (p.day + interval '1 day') AT TIME ZONE 'UTC',
                                                  to_char(p.day, 'YYYYMMDD'));
                IF n IS NOT NULL THEN
                    created := created || ('traces_p' || to_char(p.day, 'YYYYMMDD'));
                    moved := moved + n;
                END IF;
            END LOOP;
        ELSIF n IS NOT NULL THEN
            created := created || ('traces_p' || to_char(d, fmt));
            moved := moved + n;
        END IF;
    END LOOP;

    -- 2. the current period and the next ones, ahead of time
    FOR i IN 0 .. (cfg->>'trace_partitions_ahead')::int LOOP
        d := today + i * step;
        n := execlave.add_trace_partition(d AT TIME ZONE 'UTC', (d + step) AT TIME ZONE 'UTC', to_char(d, fmt));
        IF n IS NOT NULL THEN
            created := created || ('traces_p' || to_char(d, fmt));
            moved := moved + n;
        END IF;
    END LOOP;

    -- 3. retention: whole partitions that ended before the cutoff
    IF (cfg->>'trace_retention_days')::int > 0 THEN
        cutoff := now() - make_interval(days => (cfg->>'trace_retention_days')::int);
        FOR p IN SELECT * FROM execlave.trace_partitions() t WHERE NOT t.is_default AND t.range_end <= cutoff LOOP
            EXECUTE format('DROP TABLE execlave.%I', p.partition_name);
            dropped := dropped || p.partition_name;
        END LOOP;
    END IF;

    -- 4. what else accumulates
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
        EXECUTE 'DELETE FROM cron.job_run_details r USING cron.job j WHERE j.jobid = r.jobid AND j.jobname = $1 AND r.end_time < $2'
            USING execlave.maintenance_job_name(),
                  now() - make_interval(days => (cfg->>'cron_history_retention_days')::int);
        GET DIAGNOSTICS n = ROW_COUNT;
        purged := purged || jsonb_build_object('cron_run_history', n);
    END IF;

    RETURN jsonb_build_object(
        'partitions_created', to_jsonb(created),
        'partitions_dropped', to_jsonb(dropped),
        'rows_moved_from_default', moved,
        'purged', purged,
        'settings', cfg,
        'took_ms', round((extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric, 1));
END
$$;
COMMENT ON FUNCTION execlave_maintenance() IS 'All periodic work: create partitions of execlave.traces ahead and move rows out of the default partition, drop partitions past execlave.trace_retention_days, purge delivered deliveries, old events, violations, long-ended grants and API keys, and the maintenance job''s pg_cron history. Idempotent; concurrent runs skip. Returns a summary';

CREATE FUNCTION execlave.maintenance_job_name() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'execlave maintenance: ' || current_database()
$$;
COMMENT ON FUNCTION execlave.maintenance_job_name() IS 'Name of this database''s pg_cron maintenance job';

CREATE FUNCTION execlave_schedule_maintenance(schedule text DEFAULT '*/5 * * * *') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    job bigint;
BEGIN
    PERFORM execlave.check_not_null(schedule, 'schedule');
    IF to_regnamespace('cron') IS NULL OR NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, CREATE EXTENSION pg_cron, and call execlave_schedule_maintenance() again; or run SELECT execlave_maintenance() yourself every few minutes.';
    END IF;
    -- pg_cron updates a job of the same name and user instead of adding one
    EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, $4)'
        INTO job USING execlave.maintenance_job_name(), schedule, 'SELECT execlave_maintenance()', current_database();
    RETURN job;
END
$$;
COMMENT ON FUNCTION execlave_schedule_maintenance(text) IS 'Schedule execlave_maintenance() with pg_cron (one named job per database; calling again changes its schedule); returns the pg_cron job id';

CREATE FUNCTION execlave_unschedule_maintenance() RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    job bigint;
BEGIN
    IF to_regclass('cron.job') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT jobid FROM cron.job WHERE jobname = $1' INTO job USING execlave.maintenance_job_name();
    IF job IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT cron.unschedule($1)' USING job;
    RETURN true;
END
$$;
COMMENT ON FUNCTION execlave_unschedule_maintenance() IS 'Remove this database''s pg_cron maintenance job; false if there was none';

CREATE VIEW execlave.agent_overview AS
SELECT a.id, a.key, a.name, a.status, a.pause_reason, a.paused_at,
       lt.last_trace_at,
       coalesce(w.traces_24h, 0) AS traces_24h,
       coalesce(v.violations_24h, 0) AS violations_24h,
       coalesce(w.spend_today_usd, 0) AS spend_today_usd,
       coalesce(w.spend_month_usd, 0) AS spend_month_usd
FROM execlave.agents a
LEFT JOIN LATERAL (SELECT max(t.started_at) AS last_trace_at FROM execlave.traces t WHERE t.agent_id = a.id) lt ON true
LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE t.started_at >= now() - interval '24 hours') AS traces_24h,
           sum(t.cost_usd) FILTER (WHERE t.started_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS spend_today_usd,
           sum(t.cost_usd) FILTER (WHERE t.started_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS spend_month_usd
    FROM execlave.traces t
    WHERE t.agent_id = a.id
      AND t.started_at >= least(now() - interval '24 hours', date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
) w ON true
LEFT JOIN LATERAL (SELECT count(*) AS violations_24h FROM execlave.violations x
                   WHERE x.agent_id = a.id AND x.created_at >= now() - interval '24 hours') v ON true;
COMMENT ON VIEW execlave.agent_overview IS 'Per agent: status (and why paused), last trace, traces and violations in the last 24 hours, spend today and this month (UTC, by started_at)';

CREATE VIEW execlave.policy_activity AS
SELECT p.id, p.name, p.type, p.mode, p.active,
       count(x.id) FILTER (WHERE x.mode = 'log' AND x.created_at >= now() - interval '24 hours') AS log_24h,
       count(x.id) FILTER (WHERE x.mode = 'flag' AND x.created_at >= now() - interval '24 hours') AS flag_24h,
       count(x.id) FILTER (WHERE x.mode = 'block' AND x.created_at >= now() - interval '24 hours') AS block_24h,
       count(x.id) FILTER (WHERE x.mode = 'log') AS log_7d,
       count(x.id) FILTER (WHERE x.mode = 'flag') AS flag_7d,
       count(x.id) FILTER (WHERE x.mode = 'block') AS block_7d,
       max(x.created_at) AS last_violation_at
FROM execlave.policies p
LEFT JOIN execlave.violations x ON x.policy_id = p.id AND x.created_at >= now() - interval '7 days'
GROUP BY p.id, p.name, p.type, p.mode, p.active;
COMMENT ON VIEW execlave.policy_activity IS 'Per policy: violations by mode (log, flag, block) over the last 24 hours and 7 days, and the latest';

-- With pg_cron in this database, maintenance is scheduled now.  (CREATE
-- EXTENSION runs this script with client_min_messages raised to warning; it
-- is lowered here, for this script only, so that the NOTICE is seen.)
DO $$
BEGIN
    PERFORM pg_catalog.set_config('client_min_messages', 'notice', true);
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        PERFORM execlave_schedule_maintenance();
        RAISE NOTICE 'execlave: maintenance scheduled with pg_cron every 5 minutes (job "%")', execlave.maintenance_job_name();
    ELSE
        RAISE NOTICE 'execlave: pg_cron is not installed in this database, so maintenance is not scheduled'
            USING HINT = 'Run SELECT execlave_maintenance() every few minutes (it creates the partitions of execlave.traces and applies retention), or CREATE EXTENSION pg_cron here and SELECT execlave_schedule_maintenance().';
    END IF;
END
$$;

-------------------------------------------------------------------------------
-- API keys and the HTTP API (schema execlave_api, served by PostgREST)
-------------------------------------------------------------------------------
CREATE TABLE execlave.api_keys (
    id           uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    name         text        NOT NULL,
    environment  text        NOT NULL,
    scope        text        NOT NULL,
    agent_id     uuid        REFERENCES execlave.agents (id),
    key_prefix   text        NOT NULL,
    key_hash     bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by   text        NOT NULL DEFAULT CURRENT_USER,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    revoked_by   text,
    last_used_at timestamptz,
    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_prefix_key UNIQUE (key_prefix),
    CONSTRAINT api_keys_name_check CHECK (octet_length(name) BETWEEN 1 AND 200),
    CONSTRAINT api_keys_environment_check CHECK (environment ~ '^[a-z0-9]{1,16}$'),
    CONSTRAINT api_keys_scope_check CHECK (scope IN ('admin', 'agent')),
    CONSTRAINT api_keys_agent_check CHECK ((scope = 'agent') = (agent_id IS NOT NULL)),
    CONSTRAINT api_keys_hash_check CHECK (octet_length(key_hash) = 32)
);
-- Keys are immutable but for being revoked once and for their last use.
CREATE FUNCTION execlave.api_keys_before_update() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF (NEW.id, NEW.name, NEW.environment, NEW.scope, NEW.agent_id, NEW.key_prefix, NEW.key_hash,
        NEW.created_at, NEW.created_by, NEW.expires_at)
       IS DISTINCT FROM
       (OLD.id, OLD.name, OLD.environment, OLD.scope, OLD.agent_id, OLD.key_prefix, OLD.key_hash,
        OLD.created_at, OLD.created_by, OLD.expires_at)
       OR (OLD.revoked_at IS NOT NULL AND (NEW.revoked_at, NEW.revoked_by) IS DISTINCT FROM (OLD.revoked_at, OLD.revoked_by)) THEN
        RAISE EXCEPTION 'API keys cannot be changed, only revoked once'
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Revoke it with execlave_revoke_api_key() and create a new one.';
    END IF;
    IF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN
        NEW.revoked_at := now();
        NEW.revoked_by := execlave.actor();
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION execlave.api_keys_before_update() IS 'Trigger: API keys are immutable but for one revocation (stamped) and their last use';
CREATE TRIGGER api_keys_before_update BEFORE UPDATE ON execlave.api_keys
    FOR EACH ROW EXECUTE FUNCTION execlave.api_keys_before_update();
COMMENT ON TABLE execlave.api_keys IS 'API keys of the HTTP API: only the SHA-256 of a key and its display prefix are kept; key_hash is readable by the extension owner only';
COMMENT ON COLUMN execlave.api_keys.key_prefix IS 'ag_<environment>_ and the first 8 characters of the secret: shown in lists, used to find the key';
COMMENT ON COLUMN execlave.api_keys.last_used_at IS 'Last request with the key, to the minute (written at most once a minute, by read-write requests)';
SELECT pg_catalog.pg_extension_config_dump('execlave.api_keys', '');

CREATE FUNCTION execlave.random_base62(n integer) RETURNS text
LANGUAGE C VOLATILE STRICT AS 'MODULE_PATHNAME', 'execlave_random_base62';
COMMENT ON FUNCTION execlave.random_base62(integer) IS 'Internal: n random characters [0-9A-Za-z] (pg_strong_random)';
CREATE FUNCTION execlave.api_key_matches(stored bytea, key text) RETURNS boolean
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'execlave_api_key_matches';
COMMENT ON FUNCTION execlave.api_key_matches(bytea, text) IS 'Internal: SHA-256(key) = stored, compared in constant time';

CREATE FUNCTION execlave_create_api_key(name text, environment text, scope text,
                                        agent text DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS TABLE (id uuid, api_key text, key_prefix text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    secret text;
    key text;
    agent_uuid uuid;
    new_id uuid;
BEGIN
    PERFORM execlave.check_not_null(execlave_create_api_key.name, 'name');
    PERFORM execlave.check_not_null(execlave_create_api_key.environment, 'environment');
    PERFORM execlave.check_not_null(execlave_create_api_key.scope, 'scope');
    IF execlave_create_api_key.environment !~ '^[a-z0-9]{1,16}$' THEN
        RAISE EXCEPTION 'invalid environment "%"', execlave_create_api_key.environment
            USING ERRCODE = 'invalid_parameter_value', HINT = '1 to 16 lower-case letters or digits, e.g. prod, test, dev.';
    END IF;
    IF execlave_create_api_key.scope NOT IN ('admin', 'agent') THEN
        RAISE EXCEPTION 'invalid scope "%"', execlave_create_api_key.scope
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Valid scopes: admin, agent.';
    END IF;
    IF (execlave_create_api_key.scope = 'agent') <> (agent IS NOT NULL) THEN
        RAISE EXCEPTION 'an agent-scoped key needs an agent, and only an agent-scoped key takes one'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF execlave_create_api_key.expires_at <= now() THEN
        RAISE EXCEPTION 'expires_at must be in the future' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF agent IS NOT NULL THEN
        agent_uuid := execlave.resolve_agent(agent);
    END IF;
    LOOP
        secret := execlave.random_base62(40);
        key := 'ag_' || execlave_create_api_key.environment || '_' || secret;
        BEGIN
            INSERT INTO execlave.api_keys (name, environment, scope, agent_id, key_prefix, key_hash, created_by, expires_at)
            VALUES (execlave_create_api_key.name, execlave_create_api_key.environment, execlave_create_api_key.scope,
                    agent_uuid, 'ag_' || execlave_create_api_key.environment || '_' || left(secret, 8),
                    sha256(convert_to(key, 'UTF8')), execlave.actor(), execlave_create_api_key.expires_at)
            RETURNING api_keys.id INTO new_id;
            EXIT;
        EXCEPTION WHEN unique_violation THEN
            NULL;               -- a prefix taken already (1 in 62^8): draw again
        END;
    END LOOP;
    RETURN QUERY SELECT new_id, key, 'ag_' || execlave_create_api_key.environment || '_' || left(secret, 8);
END
$$;
COMMENT ON FUNCTION execlave_create_api_key(text, text, text, text, timestamptz) IS 'Create an API key (scope admin, or agent bound to one agent); returns it once as ag_<environment>_<40 base62 characters>; only its SHA-256 and display prefix are stored';

CREATE FUNCTION execlave_revoke_api_key(key text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kid uuid;
    done boolean;
BEGIN
    PERFORM execlave.check_not_null(key, 'key');
    SELECT k.id INTO kid FROM execlave.api_keys k
    WHERE k.key_prefix = key OR k.id::text = key OR k.key_prefix = substr(key, 1, length(k.key_prefix));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'API key "%" does not exist', left(key, 24) USING ERRCODE = 'EX009',
            HINT = 'Name it by its id or its prefix (execlave_list_api_keys()).';
    END IF;
    UPDATE execlave.api_keys k SET revoked_at = now(), revoked_by = execlave.actor()
    WHERE k.id = kid AND k.revoked_at IS NULL;
    GET DIAGNOSTICS done = ROW_COUNT;
    RETURN done;
END
$$;
COMMENT ON FUNCTION execlave_revoke_api_key(text) IS 'Revoke an API key (by id, prefix, or the key itself); false if it already was';

CREATE FUNCTION execlave_list_api_keys()
RETURNS TABLE (id uuid, name text, environment text, scope text, agent_key text, key_prefix text,
               created_at timestamptz, created_by text, expires_at timestamptz, revoked_at timestamptz,
               last_used_at timestamptz, state text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT k.id, k.name, k.environment, k.scope, a.key, k.key_prefix, k.created_at, k.created_by, k.expires_at,
           k.revoked_at, k.last_used_at,
           CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked' WHEN k.expires_at <= now() THEN 'expired' ELSE 'active' END
    FROM execlave.api_keys k LEFT JOIN execlave.agents a ON a.id = k.agent_id
    ORDER BY k.created_at, k.key_prefix
$$;
COMMENT ON FUNCTION execlave_list_api_keys() IS 'API keys with their prefix and state (active, expired, revoked); never the key or its hash';

CREATE SCHEMA execlave_api;
-- The API functions that call the execlave_* functions put the extension's
-- schema on their pinned search_path after pg_catalog (that schema is fixed
-- at CREATE EXTENSION, and PostgreSQL 15 gives PUBLIC no CREATE on it):
-- naming it in the bodies would put @extschema@ inside quoted strings.
COMMENT ON SCHEMA execlave_api IS 'The HTTP API: what PostgREST exposes (db-schemas = execlave_api, db-pre-request = execlave_api.pre_request)';

-- Raise an HTTP error the PostgREST way: SQLSTATE PGRST, JSON message {code,
-- message, details, hint} (strings) and JSON detail {status, headers}.
CREATE FUNCTION execlave_api.fail(status integer, code text, message text, details text DEFAULT NULL,
                                  hint text DEFAULT NULL, headers jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE SQLSTATE 'PGRST'
        USING MESSAGE = json_build_object('code', code, 'message', message, 'details', details, 'hint', hint)::text,
              DETAIL = json_build_object('status', status, 'headers', headers)::text;
END
$$;
COMMENT ON FUNCTION execlave_api.fail(integer, text, text, text, text, jsonb) IS 'Internal: raise an HTTP error with this status for PostgREST (SQLSTATE PGRST)';

-- The HTTP status of an execlave error (the SQL-level SQLSTATEs stay as they are).
CREATE FUNCTION execlave_api.http_status(sqlstate text) RETURNS integer
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE
        WHEN sqlstate = 'EX001' THEN 423                       -- agent paused
        WHEN sqlstate = 'EX003' THEN 403                       -- blocked by a policy
        WHEN sqlstate IN ('EX002', 'EX005', 'EX006', 'EX007', 'EX008', 'EX009') THEN 404
        WHEN sqlstate = 'EX004' THEN 409                       -- agent archived
        WHEN sqlstate IN ('23505', '23503', '55000') THEN 409  -- conflict
        WHEN sqlstate = '42501' THEN 403
        WHEN sqlstate LIKE '22%' OR sqlstate IN ('23502', '23514', '42804', '42883', 'P0001') THEN 400
        WHEN sqlstate IN ('53400', '53300') THEN 503
        ELSE 500
    END
$$;
COMMENT ON FUNCTION execlave_api.http_status(text) IS 'HTTP status of a SQLSTATE in the HTTP API (README: Errors over HTTP)';

-- Re-raise a caught error as its HTTP error (a PGRST error passes unchanged).
CREATE FUNCTION execlave_api.reraise(state text, message text, detail text, hint text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF state = 'PGRST' THEN
        RAISE SQLSTATE 'PGRST' USING MESSAGE = message, DETAIL = detail;
    END IF;
    PERFORM execlave_api.fail(execlave_api.http_status(state), state, message, nullif(detail, ''), nullif(hint, ''));
END
$$;
COMMENT ON FUNCTION execlave_api.reraise(text, text, text, text) IS 'Internal: turn a caught SQL error into its HTTP error';

-- PostgREST's db-pre-request: authenticate the X-API-Key header.
CREATE FUNCTION execlave_api.pre_request() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    headers json := nullif(current_setting('request.headers', true), '')::json;
    key text := headers ->> 'x-api-key';
    parts text[];
    k execlave.api_keys;
    ok boolean;
    auth jsonb := '{"WWW-Authenticate": "ApiKey header=\"X-API-Key\""}';
BEGIN
    IF key IS NULL OR key = '' THEN
        PERFORM execlave_api.fail(401, 'EX010', 'missing API key', NULL, 'Send the key in the X-API-Key header.', auth);
    END IF;
    parts := regexp_match(key, '^(ag_[a-z0-9]{1,16}_)([A-Za-z0-9]{32,128})$');
    IF parts IS NOT NULL THEN
        SELECT * INTO k FROM execlave.api_keys x WHERE x.key_prefix = parts[1] || left(parts[2], 8);
    END IF;
    -- the digest comparison runs whether or not a key was found (constant time)
    ok := execlave.api_key_matches(k.key_hash, key);
    IF NOT ok OR parts IS NULL THEN
        PERFORM execlave_api.fail(401, 'EX010', 'invalid API key', NULL, NULL, auth);
    ELSIF k.revoked_at IS NOT NULL THEN
        PERFORM execlave_api.fail(401, 'EX010', 'API key revoked', NULL, NULL, auth);
    ELSIF k.expires_at <= now() THEN
        PERFORM execlave_api.fail(401, 'EX010', 'API key expired', NULL, NULL, auth);
    END IF;
    PERFORM set_config('execlave.api_key_id', k.id::text, true);
    PERFORM set_config('execlave.api_scope', k.scope, true);
    PERFORM set_config('execlave.api_agent_id', coalesce(k.agent_id::text, ''), true);
    PERFORM set_config('execlave.api_actor', 'api:' || k.name, true);
    -- last use, to the minute: no write on most requests, none in read-only ones
    IF (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute')
       AND current_setting('transaction_read_only') = 'off' THEN
        UPDATE execlave.api_keys x SET last_used_at = now()
        WHERE x.id = k.id AND (x.last_used_at IS NULL OR x.last_used_at < now() - interval '1 minute');
    END IF;
END
$$;
COMMENT ON FUNCTION execlave_api.pre_request() IS 'PostgREST db-pre-request: checks X-API-Key (exists, not revoked, not expired; constant-time hash comparison) and sets the caller for the request; 401 otherwise';

-- The caller of this request (set by pre_request); '' when none.  Read
-- through C (see apikeys.c): never current_setting(), which a client could
-- feed a placeholder value before the library is loaded.
CREATE FUNCTION execlave_api.caller_scope() RETURNS text
LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'execlave_api_caller_scope';
CREATE FUNCTION execlave.api_caller_agent() RETURNS uuid
LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'execlave_api_caller_agent';
COMMENT ON FUNCTION execlave.api_caller_agent() IS 'Internal: the agent of the current HTTP request''s agent-scoped API key, or NULL';
COMMENT ON FUNCTION execlave_api.caller_scope() IS 'Scope of the request''s API key: admin, agent, or empty outside a request';

CREATE FUNCTION execlave_api.require_admin() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF execlave_api.caller_scope() NOT IN ('admin', 'agent') THEN
        PERFORM execlave_api.fail(401, 'EX010', 'no API key authenticated this request');
    ELSIF execlave_api.caller_scope() <> 'admin' THEN
        PERFORM execlave_api.fail(403, '42501', 'this operation needs an admin API key',
            'the key is bound to one agent');
    END IF;
END
$$;
COMMENT ON FUNCTION execlave_api.require_admin() IS 'Internal: 403 unless the request''s key is an admin key';

-- Resolve an agent the caller may act as: any for an admin key, its own for an agent key.
CREATE FUNCTION execlave_api.own_agent(agent text, what text) RETURNS uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    scope text := execlave_api.caller_scope();
    own uuid := execlave.api_caller_agent();
    id uuid;
BEGIN
    IF scope NOT IN ('admin', 'agent') THEN
        PERFORM execlave_api.fail(401, 'EX010', 'no API key authenticated this request');
    END IF;
    BEGIN
        id := execlave.resolve_agent(agent);
    EXCEPTION WHEN SQLSTATE 'EX002' THEN
        IF scope = 'admin' THEN
            RAISE;
        END IF;
        id := NULL;             -- an agent key learns nothing about other agents
    END;
    IF scope = 'agent' AND (id IS NULL OR own IS NULL OR id <> own) THEN
        PERFORM execlave_api.fail(403, '42501', format('this API key may not %s for agent "%s"', what, agent),
            'the key is bound to another agent');
    END IF;
    RETURN id;
END
$$;
COMMENT ON FUNCTION execlave_api.own_agent(text, text) IS 'Internal: the agent''s id if the request''s key may act for it (admin: any; agent key: its own), else 403';

CREATE FUNCTION execlave_api.agent_json(agent uuid) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT jsonb_build_object('id', a.id, 'key', a.key, 'name', a.name, 'status', a.status,
        'pauseReason', a.pause_reason, 'pausedAt', a.paused_at, 'pausedBy', a.paused_by,
        'statusChangedAt', a.status_changed_at, 'createdAt', a.created_at)
    FROM execlave.agents a WHERE a.id = agent
$$;
COMMENT ON FUNCTION execlave_api.agent_json(uuid) IS 'Internal: an agent as the HTTP API shows it';

-- PATCH /api/agents/ID/pause  ->  POST /rpc/pause_agent {"agentId", "reason"}
CREATE FUNCTION execlave_api.pause_agent("agentId" text, reason text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, @extschema@, pg_temp AS $$
DECLARE
    id uuid;
    changed boolean;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    changed := execlave_pause_agent("agentId", reason);
    id := execlave.resolve_agent("agentId");
    RETURN jsonb_build_object('agent', execlave_api.agent_json(id), 'changed', changed);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.pause_agent(text, text) IS 'HTTP: pause an agent (kill switch); admin keys';

-- PATCH /api/agents/ID/resume  ->  POST /rpc/resume_agent {"agentId"}
CREATE FUNCTION execlave_api.resume_agent("agentId" text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, @extschema@, pg_temp AS $$
DECLARE
    changed boolean;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    changed := execlave_resume_agent("agentId");
    RETURN jsonb_build_object('agent', execlave_api.agent_json(execlave.resolve_agent("agentId")), 'changed', changed);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.resume_agent(text) IS 'HTTP: resume a paused agent; admin keys';

-- GET /api/agents/ID/status  ->  POST /rpc/agent_status {"agentId"}
CREATE FUNCTION execlave_api.agent_status("agentId" text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st text; msg text; det text; hnt text;
BEGIN
    RETURN execlave_api.agent_json(execlave_api.own_agent("agentId", 'read the status'));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.agent_status(text) IS 'HTTP: an agent''s status; admin keys, or the agent''s own key';

-- POST /api/agents  ->  POST /rpc/register_agent {"key", "name", "description", "tags", "metadata"}
CREATE FUNCTION execlave_api.register_agent(key text, name text DEFAULT NULL, description text DEFAULT NULL,
                                            tags text[] DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, @extschema@, pg_temp AS $$
DECLARE
    id uuid;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    id := execlave_register_agent(key, name, description, coalesce(tags, '{}'), coalesce(metadata, '{}'));
    RETURN execlave_api.agent_json(id);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.register_agent(text, text, text, text[], jsonb) IS 'HTTP: register an agent (idempotent on key); admin keys';

-- POST /api/agents/A/grants  ->  POST /rpc/create_grant {"agentId", "targetAgentId", "allowedActions", "expiresAt"}
CREATE FUNCTION execlave_api.create_grant("agentId" text, "targetAgentId" text, "allowedActions" text[],
                                          "expiresAt" timestamptz DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, @extschema@, pg_temp AS $$
DECLARE
    gid uuid;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    gid := execlave_grant("agentId", "targetAgentId", "allowedActions", "expiresAt");
    RETURN (SELECT jsonb_build_object('grantId', g.id, 'sourceAgentId', g.source_id, 'targetAgentId', g.target_id,
                'allowedActions', to_jsonb(g.actions), 'expiresAt', g.expires_at, 'createdAt', g.created_at,
                'createdBy', g.created_by)
            FROM execlave.grants g WHERE g.id = gid);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.create_grant(text, text, text[], timestamptz) IS 'HTTP: grant the agent (source) actions on the target agent until expiresAt; admin keys';

-- POST /api/agents/authorize  ->  POST /rpc/authorize {"sourceAgentId", "targetAgentId", "action"[, "raiseOnDeny"]}
CREATE FUNCTION execlave_api.authorize("sourceAgentId" text, "targetAgentId" text, action text,
                                       "raiseOnDeny" boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, @extschema@, pg_temp AS $$
DECLARE
    r record;
    answer jsonb;
    st text; msg text; det text; hnt text;
BEGIN
    IF execlave_api.caller_scope() = 'agent' THEN
        PERFORM execlave_api.own_agent("sourceAgentId", 'authorize as source');
    ELSE
        PERFORM execlave_api.require_admin();
    END IF;
    SELECT * INTO r FROM execlave_authorize_explain("sourceAgentId", "targetAgentId", action);
    answer := jsonb_build_object('authorized', r.authorized, 'reason', r.reason,
        'grant', CASE WHEN r.grant_id IS NULL THEN NULL
                      ELSE jsonb_build_object('id', r.grant_id, 'expiresAt', r.expires_at) END);
    IF NOT r.authorized AND coalesce("raiseOnDeny", false) THEN
        PERFORM execlave_api.fail(403, 'EX011', format('agent "%s" may not %s agent "%s"', "sourceAgentId", action, "targetAgentId"),
            answer::text, 'reason: ' || r.reason);
    END IF;
    RETURN answer;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.authorize(text, text, text, boolean) IS 'HTTP: may the source agent perform the action on the target? {authorized, reason, grant}; raiseOnDeny: 403 instead of authorized false. Admin keys, or the source agent''s own key';

-- POST /api/webhooks  ->  POST /rpc/create_webhook {"url", "events", "secret"}
CREATE FUNCTION execlave_api.create_webhook(url text, events text[] DEFAULT NULL, secret text DEFAULT NULL,
                                            description text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, @extschema@, pg_temp AS $$
DECLARE
    w record;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    SET LOCAL client_min_messages = error;      -- the worker warning is for SQL users
    SELECT * INTO w FROM execlave_create_webhook(url, events, secret, description);
    RETURN (SELECT jsonb_build_object('id', x.id, 'url', x.url, 'events', coalesce(to_jsonb(x.events), '["*"]'),
                'secret', w.signing_secret, 'active', x.active, 'createdAt', x.created_at)
            FROM execlave.webhooks x WHERE x.id = w.id);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.create_webhook(text, text[], text, text) IS 'HTTP: register a webhook endpoint; the answer carries its signing secret (this once); admin keys';

-- POST /api/policies  ->  POST /rpc/create_policy {"name", "type", "mode", "config", "agentIds"}
CREATE FUNCTION execlave_api.create_policy(name text, type text, mode text, config jsonb DEFAULT '{}',
                                           "agentIds" text[] DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, @extschema@, pg_temp AS $$
DECLARE
    pid uuid;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.require_admin();
    pid := execlave_create_policy(name, type, mode, coalesce(config, '{}'), "agentIds");
    RETURN (SELECT jsonb_build_object('id', p.id, 'name', p.name, 'type', p.type, 'mode', p.mode, 'config', p.config,
                'agentIds', to_jsonb(p.agent_ids), 'active', p.active, 'createdAt', p.created_at)
            FROM execlave.policies p WHERE p.id = pid);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.create_policy(text, text, text, jsonb, text[]) IS 'HTTP: create a policy; admin keys';

-- POST /api/enforce  ->  POST /rpc/enforce {"agentId", "input", "model", "estimatedCost", "tools", "metadata", "environment"}
CREATE FUNCTION execlave_api.enforce("agentId" text, input text, model text DEFAULT NULL,
                                     "estimatedCost" numeric DEFAULT NULL, tools text[] DEFAULT NULL,
                                     metadata jsonb DEFAULT NULL, environment text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, @extschema@, pg_temp AS $$
DECLARE
    r jsonb;
    answer jsonb;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.own_agent("agentId", 'run a pre-execution check');
    r := execlave_enforce("agentId", input, model, "estimatedCost", tools,
                          CASE WHEN environment IS NULL THEN metadata
                               ELSE coalesce(metadata, '{}') || jsonb_build_object('environment', environment) END);
    answer := jsonb_build_object('allowed', r->'allowed',
        'violations', coalesce((SELECT jsonb_agg(jsonb_build_object('policyId', v->'policy_id', 'policyName', v->'policy_name',
                                   'type', v->'type', 'message', v->'message', 'mode', v->'mode', 'details', v->'details'))
                                FROM jsonb_array_elements(r->'violations') v), '[]'),
        'warnings', r->'warnings');
    IF NOT (r->>'allowed')::boolean THEN
        IF EXISTS (SELECT 1 FROM jsonb_array_elements(r->'violations') v WHERE v->>'type' = 'system')
           AND (SELECT a.status FROM execlave.agents a WHERE a.id = execlave.resolve_agent("agentId")) = 'paused' THEN
            PERFORM execlave_api.fail(423, 'EX001',
                coalesce((SELECT v->>'message' FROM jsonb_array_elements(r->'violations') v WHERE v->>'type' = 'system' LIMIT 1),
                         'agent is paused'), answer::text,
                'Resume the agent to let its requests through.');
        END IF;
        PERFORM execlave_api.fail(403, 'EX003', 'request blocked by policy', answer::text, NULL);
    END IF;
    RETURN answer;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.enforce(text, text, text, numeric, text[], jsonb, text) IS 'HTTP: pre-execution check. 200 {allowed, violations, warnings}; 403 when blocked and 423 when the agent is paused (the answer in details). Admin keys, or the agent''s own key';

-- POST /api/traces/batch  ->  POST /rpc/ingest_traces {"traces": [{...}, ...]}
CREATE FUNCTION execlave_api.ingest_traces(traces jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t jsonb;
    i integer := 0;
    ok integer := 0;
    errors jsonb := '[]';
    row_trace jsonb;
    k text;
    col text;
    tid text;
    known constant jsonb := '{"traceId": "trace_id", "agentId": "agent_key", "sessionId": "session_id",
        "userId": "user_id", "timestamp": "started_at", "startedAt": "started_at", "durationMs": "duration_ms",
        "duration": "duration_ms", "status": "status", "input": "input", "output": "output",
        "errorMessage": "error_message", "errorType": "error_type", "model": "model", "modelName": "model",
        "promptTokens": "prompt_tokens", "completionTokens": "completion_tokens", "totalTokens": "total_tokens",
        "cost": "cost_usd", "costUsd": "cost_usd", "environment": "environment", "tags": "tags", "tools": "tools",
        "metadata": "metadata", "parentTraceId": "parent_trace_id", "spanType": "span_type"}';
    st text; msg text; det text; hnt text;
BEGIN
    IF execlave_api.caller_scope() = '' THEN
        PERFORM execlave_api.fail(401, 'EX010', 'no API key authenticated this request');
    END IF;
    IF traces IS NULL OR jsonb_typeof(traces) <> 'array' THEN
        PERFORM execlave_api.fail(400, '22023', 'traces must be a JSON array of trace objects');
    END IF;
    IF jsonb_array_length(traces) > 1000 THEN
        PERFORM execlave_api.fail(400, '22023', 'at most 1000 traces per batch');
    END IF;
    FOR t IN SELECT e FROM jsonb_array_elements(traces) e LOOP
        tid := NULL;
        BEGIN
            IF jsonb_typeof(t) <> 'object' THEN
                RAISE EXCEPTION 'trace % is not a JSON object', i USING ERRCODE = 'invalid_parameter_value';
            END IF;
            tid := t->>'traceId';
            row_trace := '{}';
            FOR k IN SELECT jsonb_object_keys(t) LOOP
                col := known->>k;
                IF col IS NULL THEN
                    RAISE EXCEPTION 'unknown trace field "%"', k USING ERRCODE = 'invalid_parameter_value',
                        HINT = 'Fields: ' || (SELECT string_agg(x, ', ' ORDER BY x) FROM jsonb_object_keys(known) x) || '.';
                END IF;
                row_trace := row_trace || jsonb_build_object(col, t->k);
            END LOOP;
            IF row_trace->>'agent_key' IS NULL THEN
                RAISE EXCEPTION 'trace % names no agent', i USING ERRCODE = 'not_null_violation', HINT = 'Set agentId.';
            END IF;
            PERFORM execlave_api.own_agent(row_trace->>'agent_key', 'submit traces');
            INSERT INTO execlave.traces SELECT * FROM jsonb_populate_record(NULL::execlave.traces,
                jsonb_build_object('trace_id', execlave.new_trace_id(), 'started_at', now(), 'status', 'success',
                                   'tags', '{}'::text[], 'tools', '{}'::text[], 'metadata', '{}'::jsonb,
                                   'ingested_at', now()) || row_trace)
            RETURNING trace_id INTO tid;
            ok := ok + 1;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
            IF st = 'PGRST' THEN        -- from own_agent: keep its status and message
                errors := errors || jsonb_build_object('index', i, 'traceId', tid, 'status', (det::jsonb->>'status')::int,
                    'code', msg::jsonb->>'code', 'message', msg::jsonb->>'message');
            ELSE
                errors := errors || jsonb_build_object('index', i, 'traceId', tid, 'status', execlave_api.http_status(st),
                    'code', st, 'message', msg);
            END IF;
        END;
        i := i + 1;
    END LOOP;
    RETURN jsonb_build_object('accepted', ok, 'failed', i - ok, 'errors', errors);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.ingest_traces(jsonb) IS 'HTTP: batch trace ingestion (up to 1000); each trace in its own subtransaction; answers {accepted, failed, errors[{index, traceId, status, code, message}]}. Admin keys, or an agent key for its own traces';

-- Listing views: admin keys only (an agent key sees no rows); never a secret.
CREATE VIEW execlave_api.agents WITH (security_barrier) AS
SELECT a.id, a.key, a.name, a.description, a.status, a.pause_reason AS "pauseReason", a.paused_at AS "pausedAt",
       a.paused_by AS "pausedBy", a.tags, a.metadata, a.created_at AS "createdAt", a.updated_at AS "updatedAt"
FROM execlave.agents a WHERE execlave_api.caller_scope() = 'admin';
COMMENT ON VIEW execlave_api.agents IS 'HTTP GET /agents: agents (admin keys)';
CREATE VIEW execlave_api.grants WITH (security_barrier) AS
SELECT g.id, g.source_id AS "sourceAgentId", g.target_id AS "targetAgentId", g.actions AS "allowedActions",
       g.expires_at AS "expiresAt", g.created_at AS "createdAt", g.created_by AS "createdBy",
       g.revoked_at AS "revokedAt", g.revoked_by AS "revokedBy",
       (g.revoked_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now())) AS live
FROM execlave.grants g WHERE execlave_api.caller_scope() = 'admin';
COMMENT ON VIEW execlave_api.grants IS 'HTTP GET /grants: agent-to-agent grants (admin keys)';
CREATE VIEW execlave_api.policies WITH (security_barrier) AS
SELECT p.id, p.name, p.type, p.mode, p.config, p.agent_ids AS "agentIds", p.active, p.metadata,
       p.created_at AS "createdAt", p.updated_at AS "updatedAt"
FROM execlave.policies p WHERE execlave_api.caller_scope() = 'admin';
COMMENT ON VIEW execlave_api.policies IS 'HTTP GET /policies: policies (admin keys)';
CREATE VIEW execlave_api.violations WITH (security_barrier) AS
SELECT v.id, v.policy_id AS "policyId", v.policy_name AS "policyName", v.policy_type AS "policyType", v.mode,
       v.agent_id AS "agentId", v.agent_key AS "agentKey", v.trace_id AS "traceId", v.phase, v.message, v.details,
       v.created_at AS "createdAt"
FROM execlave.violations v WHERE execlave_api.caller_scope() = 'admin';
COMMENT ON VIEW execlave_api.violations IS 'HTTP GET /violations: policy violations (admin keys)';
CREATE VIEW execlave_api.webhooks WITH (security_barrier) AS
SELECT w.id, w.url, coalesce(w.events, ARRAY['*']) AS events, w.active, w.description, w.created_at AS "createdAt",
       w.disabled_at AS "disabledAt", w.disabled_reason AS "disabledReason"
FROM execlave.webhooks w WHERE execlave_api.caller_scope() = 'admin';
COMMENT ON VIEW execlave_api.webhooks IS 'HTTP GET /webhooks: webhook endpoints, never their secrets (admin keys)';
CREATE VIEW execlave_api.deliveries WITH (security_barrier) AS
SELECT d.id, d.webhook_id AS "webhookId", d.event_id AS "eventId", d.event_type AS "eventType", d.status,
       d.attempts, d.next_attempt_at AS "nextAttemptAt", d.last_attempt_at AS "lastAttemptAt",
       d.last_status_code AS "lastStatusCode", d.last_error AS "lastError", d.delivered_at AS "deliveredAt",
       d.created_at AS "createdAt"
FROM execlave.deliveries d WHERE execlave_api.caller_scope() = 'admin';
COMMENT ON VIEW execlave_api.deliveries IS 'HTTP GET /deliveries: webhook deliveries (admin keys)';

-- PostgREST's anonymous role (db-anon-role): every HTTP request runs as it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'execlave_api_anon') THEN
        CREATE ROLE execlave_api_anon NOLOGIN;
    END IF;
END
$$;

-------------------------------------------------------------------------------
-- Privileges
-------------------------------------------------------------------------------
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA execlave FROM PUBLIC;
-- the stamping triggers run as the writing role
GRANT EXECUTE ON FUNCTION execlave.actor(), execlave.api_caller_agent() TO PUBLIC;

GRANT SELECT ON execlave.agents, execlave.agent_status_history, execlave.events, execlave.traces,
    execlave.grants, execlave.grant_history, execlave.policies, execlave.violations
    TO execlave_reader, execlave_app, execlave_admin;
GRANT INSERT (name, type, mode, config, agent_ids, active, metadata),
    UPDATE (name, type, mode, config, agent_ids, active, metadata), DELETE
    ON execlave.policies TO execlave_admin;
GRANT INSERT (source_id, target_id, actions, expires_at), UPDATE (revoked_at) ON execlave.grants
    TO execlave_admin;
GRANT INSERT, UPDATE (name, description, status, pause_reason, tags, metadata) ON execlave.agents
    TO execlave_admin;
GRANT INSERT ON execlave.traces TO execlave_app, execlave_admin;
-- Webhook secrets: execlave_admin only (column privileges for the others).
GRANT SELECT ON execlave.webhooks, execlave.deliveries, execlave.webhook_health TO execlave_admin;
GRANT SELECT (id, url, events, active, description, created_at, created_by, updated_at,
    disabled_at, disabled_reason) ON execlave.webhooks TO execlave_reader, execlave_app;
GRANT SELECT ON execlave.deliveries, execlave.webhook_health TO execlave_reader, execlave_app;
GRANT INSERT (url, events, secret, active, description, disabled_reason),
    UPDATE (url, events, secret, active, description, disabled_reason), DELETE
    ON execlave.webhooks TO execlave_admin;

GRANT EXECUTE ON FUNCTION execlave.resolve_agent(text), execlave.check_not_null(anyelement, text),
    execlave.new_trace_id(), execlave.canonical_actions(text[]), execlave.actions_valid(text[]),
    execlave.validate_policy(text, jsonb), execlave.resolve_policy(text), execlave.resolve_agents(text[])
    TO execlave_reader, execlave_app, execlave_admin;
GRANT EXECUTE ON FUNCTION execlave.set_policy_active(text, boolean) TO execlave_admin;
GRANT EXECUTE ON FUNCTION execlave.check_webhook_url(text), execlave.webhook_worker_status()
    TO execlave_reader, execlave_app, execlave_admin;
GRANT EXECUTE ON FUNCTION execlave.new_webhook_secret(), execlave.check_webhook_secret(text),
    execlave.check_webhook(uuid) TO execlave_admin;
REVOKE ALL ON FUNCTION execlave.record_violations(jsonb), execlave.pause_for_policy(uuid, text),
    execlave.emit_signals(text, uuid, jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION execlave_agent_status(text), execlave_assert_active(text),
    execlave_register_agent(text, text, text, text[], jsonb), execlave_pause_agent(text, text),
    execlave_resume_agent(text), execlave_submit_trace(text, jsonb),
    execlave_grant(text, text, text[], timestamptz), execlave_revoke(uuid),
    execlave_revoke(text, text, text[]), execlave_authorize(text, text, text),
    execlave_authorize_explain(text, text, text),
    execlave_create_policy(text, text, text, jsonb, text[], jsonb),
    execlave_update_policy(text, text, jsonb, text[], text, jsonb), execlave_enable_policy(text),
    execlave_disable_policy(text), execlave_drop_policy(text),
    execlave_enforce(text, text, text, numeric, text[], jsonb),
    execlave_enforce_strict(text, text, text, numeric, text[], jsonb),
    execlave_create_webhook(text, text[], text, text), execlave_list_webhooks(),
    execlave_update_webhook(uuid, text, text[], text), execlave_disable_webhook(uuid, text),
    execlave_enable_webhook(uuid), execlave_delete_webhook(uuid),
    execlave_rotate_webhook_secret(uuid, text), execlave_test_webhook(uuid),
    execlave_redeliver(bigint), execlave_usage(text), execlave_anomaly_baseline(text),
    execlave_maintenance(), execlave_schedule_maintenance(text), execlave_unschedule_maintenance() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave_maintenance(), execlave_schedule_maintenance(text),
    execlave_unschedule_maintenance() TO execlave_admin;
GRANT EXECUTE ON FUNCTION execlave.maintenance_settings(), execlave.trace_partitions(),
    execlave.maintenance_job_name() TO execlave_reader, execlave_app, execlave_admin;
GRANT SELECT ON execlave.agent_overview, execlave.policy_activity TO execlave_reader, execlave_app, execlave_admin;
-- API keys: admins manage them through the functions; nobody but the owner reads the hashes
REVOKE ALL ON execlave.api_keys FROM PUBLIC;
GRANT SELECT (id, name, environment, scope, agent_id, key_prefix, created_at, created_by, expires_at,
    revoked_at, revoked_by, last_used_at) ON execlave.api_keys TO execlave_admin;
GRANT INSERT (name, environment, scope, agent_id, key_prefix, key_hash, created_by, expires_at),
    UPDATE (revoked_at, revoked_by) ON execlave.api_keys TO execlave_admin;
GRANT EXECUTE ON FUNCTION execlave.random_base62(integer) TO execlave_admin;
REVOKE ALL ON FUNCTION execlave_create_api_key(text, text, text, text, timestamptz), execlave_revoke_api_key(text),
    execlave_list_api_keys() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave_create_api_key(text, text, text, text, timestamptz), execlave_revoke_api_key(text),
    execlave_list_api_keys() TO execlave_admin;
-- The HTTP API: the anonymous role may use the schema, call the API functions and read the views
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA execlave_api FROM PUBLIC;
GRANT USAGE ON SCHEMA execlave_api TO execlave_api_anon;
GRANT EXECUTE ON FUNCTION execlave_api.pre_request(), execlave_api.pause_agent(text, text),
    execlave_api.resume_agent(text), execlave_api.agent_status(text),
    execlave_api.register_agent(text, text, text, text[], jsonb),
    execlave_api.create_grant(text, text, text[], timestamptz), execlave_api.authorize(text, text, text, boolean),
    execlave_api.create_webhook(text, text[], text, text), execlave_api.create_policy(text, text, text, jsonb, text[]),
    execlave_api.enforce(text, text, text, numeric, text[], jsonb, text), execlave_api.ingest_traces(jsonb),
    execlave_api.caller_scope()
    TO execlave_api_anon;
GRANT SELECT ON execlave_api.agents, execlave_api.grants, execlave_api.policies, execlave_api.violations,
    execlave_api.webhooks, execlave_api.deliveries TO execlave_api_anon;
GRANT EXECUTE ON FUNCTION execlave_usage(text), execlave_anomaly_baseline(text)
    TO execlave_reader, execlave_app, execlave_admin;
GRANT EXECUTE ON FUNCTION execlave_agent_status(text), execlave_assert_active(text),
    execlave_authorize(text, text, text), execlave_authorize_explain(text, text, text)
    TO execlave_reader, execlave_app, execlave_admin;
GRANT EXECUTE ON FUNCTION execlave_grant(text, text, text[], timestamptz), execlave_revoke(uuid),
    execlave_revoke(text, text, text[]) TO execlave_admin;
GRANT EXECUTE ON FUNCTION execlave_submit_trace(text, jsonb) TO execlave_app, execlave_admin;
GRANT EXECUTE ON FUNCTION execlave_register_agent(text, text, text, text[], jsonb),
    execlave_pause_agent(text, text), execlave_resume_agent(text) TO execlave_admin;
GRANT EXECUTE ON FUNCTION execlave_create_policy(text, text, text, jsonb, text[], jsonb),
    execlave_update_policy(text, text, jsonb, text[], text, jsonb), execlave_enable_policy(text),
    execlave_disable_policy(text), execlave_drop_policy(text) TO execlave_admin;
GRANT EXECUTE ON FUNCTION execlave_enforce(text, text, text, numeric, text[], jsonb),
    execlave_enforce_strict(text, text, text, numeric, text[], jsonb) TO execlave_app, execlave_admin;
GRANT EXECUTE ON FUNCTION execlave_list_webhooks() TO execlave_reader, execlave_app, execlave_admin;
GRANT EXECUTE ON FUNCTION execlave_create_webhook(text, text[], text, text),
    execlave_update_webhook(uuid, text, text[], text), execlave_disable_webhook(uuid, text),
    execlave_enable_webhook(uuid), execlave_delete_webhook(uuid),
    execlave_rotate_webhook_secret(uuid, text), execlave_test_webhook(uuid),
    execlave_redeliver(bigint) TO execlave_admin;
