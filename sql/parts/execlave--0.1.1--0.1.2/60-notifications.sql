
-------------------------------------------------------------------------------
-- The kill switch's notifications are a wake-up hint, not an authority
--
-- Any role may LISTEN on and NOTIFY execlave_agent_status, so a listener can
-- never trust a payload: one could forge a "resumed", and the payloads used
-- to carry pause reasons and actors to roles that may not read
-- execlave.agents.  Every status change now bumps the agent's
-- status_version; the notification carries only the agent's id and that
-- version; a listener confirms with execlave_agent_state(), which answers
-- from the table (privileges apply) and says whether the version it was
-- told about is real.
-------------------------------------------------------------------------------
ALTER TABLE execlave.agents ADD COLUMN status_version bigint NOT NULL DEFAULT 1;
COMMENT ON COLUMN execlave.agents.status_version IS 'Bumped by every status change (1 at registration); carried by NOTIFY execlave_agent_status and confirmed by execlave_agent_state()';

CREATE OR REPLACE FUNCTION execlave.agents_before_write() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.updated_at := now();
    IF TG_OP = 'INSERT' THEN
        NEW.created_at := now();
        NEW.status_changed_at := now();
        NEW.status_changed_by := execlave.actor();
        NEW.status_version := 1;
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        NEW.status_changed_at := now();
        NEW.status_changed_by := execlave.actor();
        NEW.status_version := OLD.status_version + 1;
    ELSE
        -- the stamps belong to the last status change
        NEW.status_changed_at := OLD.status_changed_at;
        NEW.status_changed_by := OLD.status_changed_by;
        NEW.status_version := OLD.status_version;
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

CREATE OR REPLACE FUNCTION execlave.agents_after_write() RETURNS trigger
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

    -- the event (delivered signed, to subscribed endpoints only) says everything
    payload := jsonb_build_object(
        'agent_id', NEW.id,
        'agent_key', NEW.key,
        'status', NEW.status,
        'previous_status', old_status,
        'reason', NEW.pause_reason,
        'changed_by', NEW.status_changed_by,
        'changed_at', NEW.status_changed_at,
        'status_version', NEW.status_version);
    IF NEW.status = 'paused' THEN
        PERFORM execlave.emit_event('agent.paused', NEW.id, payload);
    ELSIF old_status = 'paused' THEN
        PERFORM execlave.emit_event('agent.resumed', NEW.id, payload);
    END IF;

    -- the notification, which any role can read and forge, is only a hint
    PERFORM pg_notify('execlave_agent_status',
        jsonb_build_object('agent_id', NEW.id, 'status_version', NEW.status_version)::text);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave.agents_after_write() IS 'Trigger: appends status history, emits agent.paused / agent.resumed and sends NOTIFY execlave_agent_status with the agent''s id and status_version (a hint: confirm with execlave_agent_state())';

-- The authoritative answer a listener acts on.
CREATE FUNCTION execlave.agent_state(agent text, seen_version bigint DEFAULT NULL)
RETURNS TABLE (agent_id uuid, agent_key text, status text, status_version bigint, status_changed_at timestamptz,
               status_changed_by text, pause_reason text, confirmed boolean)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT a.id, a.key, a.status, a.status_version, a.status_changed_at, a.status_changed_by, a.pause_reason,
           CASE WHEN seen_version IS NULL THEN NULL ELSE a.status_version >= seen_version END
    FROM execlave.agents a WHERE a.id = execlave.resolve_agent(agent);
END;
COMMENT ON FUNCTION execlave.agent_state(text, bigint) IS 'Implementation of execlave_agent_state()';
CREATE FUNCTION execlave_agent_state(agent text, seen_version bigint DEFAULT NULL)
RETURNS TABLE (agent_id uuid, agent_key text, status text, status_version bigint, status_changed_at timestamptz,
               status_changed_by text, pause_reason text, confirmed boolean)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM execlave.agent_state(agent, seen_version);
END;
COMMENT ON FUNCTION execlave_agent_state(text, bigint) IS 'The agent''s committed status, status_version and stamps; with seen_version (from a NOTIFY execlave_agent_status payload), confirmed says whether that version is real (false: the notification was forged). Act on this answer, never on a payload';
REVOKE ALL ON FUNCTION execlave.agent_state(text, bigint), execlave_agent_state(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.agent_state(text, bigint), execlave_agent_state(text, bigint)
    TO execlave_reader, execlave_app, execlave_admin;
