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

